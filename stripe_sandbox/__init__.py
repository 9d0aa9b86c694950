"""A stateful fake of the Stripe API, served over real HTTP for the official SDK.

Entry points: :class:`store.Store` (state), :class:`server.SandboxServer` (HTTP),
:func:`generator.generate` (seed data) and :class:`webhooks.WebhookSender` (signed delivery).
"""
