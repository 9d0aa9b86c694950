"""The yardstick: a minimal Flask receiver that only verifies the signature and inserts the event."""

import json
import os
import threading

import psycopg
import stripe
from flask import Flask, request

app = Flask(__name__)
local = threading.local()


@app.post("/webhooks/stripe")
def receive():
    payload = request.get_data()
    try:
        stripe.WebhookSignature.verify_header(payload.decode(), request.headers.get("Stripe-Signature", ""), os.environ["STRIPE_WEBHOOK_SECRET"], 300)
    except Exception:
        return "bad signature", 400
    event = json.loads(payload)
    if not hasattr(local, "conn"):
        local.conn = psycopg.connect(os.environ["MINIMAL_DSN"], autocommit=True)
    local.conn.execute("INSERT INTO events (id, payload) VALUES (%s, %s) ON CONFLICT DO NOTHING", (event["id"], payload.decode()))
    return "", 200
