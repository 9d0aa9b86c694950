"""gunicorn settings of the web process (``Procfile``); the command line adds the bind address,
the workers and where the access log goes.

The access log names no user and no query string: gunicorn's default format logs ``%(u)s``,
the user of HTTP Basic auth, so a query API token sent that way reached the log, and a token
or an email address could ride in a query string. No header is logged either.
"""

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# The longest request line gunicorn takes (its maximum): a longer one gets gunicorn's own
# 414, before the app could answer in Stripe's error shape. The query API refuses ids over
# 512 characters with a JSON 400 well below this.
limit_request_line = 8190
