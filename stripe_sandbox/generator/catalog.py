"""The generator's shops: catalog (products, prices, links) and buyers (customers, guests).

Each scope gets its own ``Shop``; the products and prices are chosen to meet every catalog
trap the index has to handle (one product under many prices and currencies, renames).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .. import billing as b
from .. import records as r
from ..store import Scope, Store

HUGE_LINES = 105
PARTS = HUGE_LINES + 15

FIRST = ("Jenny", "Ana", "Luis", "Mei", "Omar", "Sofia", "Kenji", "Priya", "Lars", "Chloe",
         "Ivan", "Fatima", "Noah", "Elif", "Mateo", "Yuki", "Amara", "Jonas", "Nadia", "Tomas")
LAST = ("Rosen", "Silva", "Garcia", "Chen", "Haddad", "Rossi", "Tanaka", "Patel", "Berg",
        "Martin", "Petrov", "Khan", "Smith", "Yilmaz", "Lopez", "Sato", "Okafor", "Weber",
        "Novak", "Dubois")
DOMAINS = ("example.com", "mail.test", "Example.org", "inbox.test")
PRODUCTS = ("Pro Plan", "Video Course", "E-book", "Workshop Ticket", "Consulting Hour",
            "Template Pack", "Icon Set", "Stock Photos", "Plugin License", "Support Add-on",
            "Team Seat", "Masterclass", "Audio Pack", "Font Family", "Starter Kit",
            "Coaching Session", "Newsletter Premium", "API Credits", "Design Review",
            "Community Access")



@dataclass(slots=True)
class Shop:
    """One scope's catalog and buyers: the platform in test or live mode, or a Connect account."""

    scope: Scope
    name: str
    star: r.Product | None = None
    products: list[r.Product] = field(default_factory=list)
    one_time: dict[str, list[r.Price]] = field(default_factory=dict)
    recurring: list[r.Price] = field(default_factory=list)
    star_prices: list[r.Price] = field(default_factory=list)
    parts: list[r.Price] = field(default_factory=list)
    free: r.Price | None = None
    links: list[r.PaymentLink] = field(default_factory=list)
    customers: list[r.Customer] = field(default_factory=list)
    guests: list[tuple[str, str]] = field(default_factory=list)



class CatalogBuilder:
    """The catalog and buyer steps of ``Generator``, mixed into it; they schedule and act
    through its ``at``, ``when``, ``ctx`` and ``count``."""

    store: Store
    rng: random.Random

    def build_catalog(self, t: int, shop: Shop, scale: float) -> None:
        rng = self.rng
        ctx = self.ctx(shop, t)
        star = b.create_product(ctx, f"{shop.name.title()} Annual Conference Pass",
                                description="The product sold every possible way.")
        shop.star = star
        self.highlights.setdefault("star_products", {})[shop.name] = star.id
        if shop.name == "test":
            self.highlights["star_product"] = star.id
        specs = [("usd", 19900, None), ("eur", 18900, None), ("gbp", 16900, None),
                 ("jpy", 29800, None), ("usd", 2900, "month"), ("eur", 24900, "year")]
        for currency, amount, interval in specs:
            price = b.create_price(ctx, star, currency, amount, interval=interval,
                                   nickname=f"{currency}-{interval or 'once'}")
            shop.star_prices.append(price)
            self._file_price(shop, price)
        b.update_product(ctx, star, default_price=shop.star_prices[0].id)
        shop.star = self.store.products[star.id]
        n_products = max(4, round((8 + self.size // 800) * scale))
        n_products = min(n_products, 400)
        for i in range(n_products):
            name = PRODUCTS[i % len(PRODUCTS)] + ("" if i < len(PRODUCTS) else f" {i // len(PRODUCTS) + 1}")
            prod = b.create_product(ctx, name)
            shop.products.append(prod)
            for currency in rng.sample(("usd", "usd", "eur", "gbp"), k=rng.randint(1, 2)):
                amount = rng.choice((500, 900, 1500, 2500, 4900, 9900, 14900))
                price = b.create_price(ctx, prod, currency, amount)
                self._file_price(shop, price)
            if rng.random() < 0.3:
                interval = rng.choice(("month", "month", "year"))
                amount = rng.choice((900, 1900, 4900)) * (10 if interval == "year" else 1)
                price = b.create_price(ctx, prod, rng.choice(("usd", "eur")), amount,
                                       interval=interval)
                self._file_price(shop, price)
        if shop.name == "test":
            for i in range(PARTS):
                prod = b.create_product(ctx, f"Spare Part {i + 1:03d}")
                shop.parts.append(b.create_price(ctx, prod, "usd", 100 + 25 * (i % 40)))
        free_prod = b.create_product(ctx, f"{shop.name.title()} Free Sample")
        shop.free = b.create_price(ctx, free_prod, "usd", 0)
        # Several payment links for the star product, and a few for the rest of the catalog.
        usd, eur, gbp, jpy, monthly, yearly = shop.star_prices
        other = self._price(shop, "usd")
        link_specs: list[tuple[list[r.Line], dict[str, Any]]] = [
            ([(usd.id, 1, star.name)], {}),
            ([(eur.id, 1, star.name)], {"customer_creation": "always"}),
            ([(gbp.id, 1, star.name)], {}),
            ([(jpy.id, 1, star.name)], {}),
            ([(monthly.id, 1, star.name)], {}),
            ([(yearly.id, 1, star.name)], {}),
            ([(usd.id, 1, star.name), (other.id, 2, self._name(other))],
             {"invoice_creation": True, "customer_creation": "always"}),
        ]
        for _ in range(max(2, n_products // 3)):
            price = self._price(shop, rng.choice(("usd", "eur", "gbp")))
            link_specs.append(([(price.id, 1, self._name(price))], {}))
        for lines, fields in link_specs:
            shop.links.append(b.create_payment_link(ctx, lines, **fields))
        for prod in rng.sample(shop.products, k=max(1, len(shop.products) // 10)):
            self.at(self.when(), self.rename, shop, prod.id)

    def _file_price(self, shop: Shop, price: r.Price) -> None:
        if price.interval:
            shop.recurring.append(price)
        else:
            shop.one_time.setdefault(price.currency, []).append(price)

    def _price(self, shop: Shop, currency: str) -> r.Price:
        prices = shop.one_time.get(currency) or shop.one_time["usd"]
        return self.rng.choice(prices)

    def _name(self, price: r.Price) -> str:
        return self.store.products[price.product].name

    def rename(self, t: int, shop: Shop, product_id: str) -> None:
        prod = self.store.products[product_id]
        b.update_product(self.ctx(shop, t), prod, name=prod.name + " (2nd edition)")
        self.count("product_renames")

    def rename_star(self, t: int, shop: Shop) -> None:
        assert shop.star is not None
        prod = self.store.products[shop.star.id]
        year = 2025 + self.counts.get("star_renames", 0)
        b.update_product(self.ctx(shop, t), prod, name=f"Annual Conference Pass {year}",
                         metadata={"edition": str(year)})
        self.count("star_renames")
        self.count("product_renames")

    # -- buyers ------------------------------------------------------------------------------
    def person(self) -> tuple[str, str]:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{rng.randint(1, 9999)}@{rng.choice(DOMAINS)}"
        return f"{first} {last}", email

    def guest(self, shop: Shop) -> tuple[str, str]:
        """A guest's name and email as typed this time: returning guests vary the casing."""
        rng = self.rng
        if shop.guests and rng.random() < 0.25:
            name, email = rng.choice(shop.guests)
            local, _, domain = email.partition("@")
            email = rng.choice((email.lower(), email.upper(), f"{local.title()}@{domain.lower()}"))
            self.count("returning_guests")
            return name, email
        name, email = self.person()
        shop.guests.append((name, email))
        return name, email

    def customer(self, shop: Shop, t: int) -> r.Customer:
        if shop.customers and self.rng.random() < 0.6:
            return self.store.customers[self.rng.choice(shop.customers).id]
        name, email = self.person()
        cus = b.create_customer(self.ctx(shop, t), email=email.lower(), name=name)
        shop.customers.append(cus)
        return cus
