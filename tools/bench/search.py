"""
Search: GET /api/products/?q=… over 10⁵ bulk-loaded products, timed through the whole Django stack.

The products are loaded in SQL (names of three words from fixed vocabularies picked by an md5
of the row number, so a one-word query matches 2–5 % of the catalogue; SKUs SKU-000001…; one
initial ledger row each, so the stock invariants still hold). The requests run serially in this
process with Django's test client, logged in as a customer: every middleware, DRF, the filters,
the pagination's count and the serializer, but no network and no gunicorn. The kinds are
shuffled together, so the machine's noise falls on all of them alike; the baseline (GET of one
product) is measured in the same loop. A second, shorter pass captures each request's SQL to
split the time between the database and the rest, and EXPLAIN ANALYZEs one example per kind.
"""

import random
import time
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from .host import BenchHost
from .load import percentile


def _words(text: str) -> list[str]:
    return text.split()


# Vocabularies of the names: 30 × 20 × 49, so one word matches 1/30, 1/20 or 1/49 of the products.
ADJECTIVES = _words(
    "blue red green black white large small compact deluxe classic modern vintage smart portable heavy "
    "light silent rapid eco pro golden rustic soft bright urban nordic royal mini ultra grand"
)
MATERIALS = _words(
    "steel oak cotton ceramic glass leather bamboo copper wool carbon linen marble walnut silk brass cork "
    "granite velvet aluminium porcelain"
)
NOUNS = _words(
    "widget lamp chair kettle mug backpack blanket speaker clock desk bottle jacket pan shelf vase stool "
    "basket towel knife plate rug mirror hammer bowl candle pillow teapot wallet scarf helmet drill "
    "ladder tray frame bench sofa table cabinet curtain brush grinder blender toaster heater fan router "
    "charger cable tent"
)
SKU_DIGITS = 6
ORDERINGS = ("price", "-price", "name", "newest")
KINDS = ("word", "prefix", "sku", "sku prefix", "q + filters + ordering", "q + page 2", "no q (list)")
BASELINE = "baseline GET /api/products/{id}/"


@dataclass
class SearchKind:
    kind: str
    example: str  # one query string of the kind
    n: int
    p50: float  # ms, through the whole stack
    p95: float
    p99: float
    matches: float  # median `count` of the answers
    queries: float = float("nan")  # SQL statements per request (capture pass, median)
    sql_ms: float = float("nan")  # their summed time (capture pass, median)
    plan: str = ""  # of the example's search statements: index used, execution ms (EXPLAIN ANALYZE)


@dataclass
class SearchRun:
    products: int
    active: int
    load_s: float
    kinds: list[SearchKind] = field(default_factory=list)  # the baseline first


class Search(BenchHost):
    """A mixin of the Bench: the `search` step."""

    def search(self) -> None:
        products = self.size["search_products"]
        self.status(f"search: bulk-load {products:,} products")
        t0 = time.monotonic()
        first = search_bulk_load(products)
        run = SearchRun(products=products, active=count_active(), load_s=time.monotonic() - t0)
        client = Client()
        customer = get_user_model().objects.filter(is_staff=False).first()
        if customer is None:
            raise RuntimeError("search: no customer to log in as (the stack step makes them)")
        client.force_login(customer)
        rng = random.Random(12)
        requests = [
            (kind, search_url(kind, rng, first, products))
            for kind in KINDS
            for _ in range(self.size["search_requests"])
        ]
        baseline_url = f"/api/products/{product_id(first)}/"
        requests += [(BASELINE, baseline_url)] * self.size["search_requests"]
        rng.shuffle(requests)
        for _, url in requests[:30]:  # warm up: imports, the first compiled queries, the page cache
            client.get(url)
        timings: dict[str, list[float]] = {}
        counts: dict[str, list[float]] = {}
        for i, (kind, url) in enumerate(requests):
            t0 = time.perf_counter()
            response = client.get(url)
            timings.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"search: {url} answered {response.status_code}: {response.content[:300]!r}")
            counts.setdefault(kind, []).append(response.json().get("count", 1))
            if i % 50 == 0:
                self.status("search: timed requests", i, len(requests))
        examples = {kind: url for kind, url in reversed(requests)}
        for kind in (BASELINE, *KINDS):
            ms = timings[kind]
            row = SearchKind(
                kind=kind,
                example=examples[kind],
                n=len(ms),
                p50=percentile(ms, 50),
                p95=percentile(ms, 95),
                p99=percentile(ms, 99),
                matches=percentile(counts[kind], 50),
            )
            row.queries, row.sql_ms, row.plan = self.search_sql_profile(
                client, kind, [u for k, u in requests if k == kind]
            )
            run.kinds.append(row)
        self.results.search = run
        by_kind = {row.kind: row for row in run.kinds}
        self.log(f"search at {products:,} products: " + ", ".join(f"{k} p95 {by_kind[k].p95:.1f} ms" for k in by_kind))

    def search_sql_profile(self, client: Client, kind: str, urls: list[str]) -> tuple[float, float, str]:
        """Median SQL statements and SQL ms per request over a few of the kind's URLs; the example's plan."""
        self.status(f"search: SQL of {kind}")
        statements: list[float] = []
        sql_ms: list[float] = []
        for url in urls[:20]:
            timer = SqlTimer()
            with connection.execute_wrapper(timer):
                client.get(url)
            statements.append(len(timer.statements))
            sql_ms.append(sum(ms for _, _, ms in timer.statements))
        timer = SqlTimer()
        with connection.execute_wrapper(timer):
            client.get(urls[0])
        plans = [explain(sql, params) for sql, params, _ in timer.statements if "inventory_product" in sql]
        return percentile(statements, 50), percentile(sql_ms, 50), "; ".join(plans)


class SqlTimer:
    """A connection.execute_wrapper keeping (sql, params, ms) of every statement (Django's own capture rounds to ms)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, object, float]] = []

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((sql, params, (time.perf_counter() - t0) * 1000))


def search_url(kind: str, rng: random.Random, first: int, products: int) -> str:
    word = rng.choice(ADJECTIVES + MATERIALS + NOUNS)
    if kind == "word":
        return f"/api/products/?q={word}"
    if kind == "prefix":
        return f"/api/products/?q={word[:3]}"
    if kind == "sku":
        return f"/api/products/?q={sku(rng.randrange(first, first + products))}"
    if kind == "sku prefix":  # SKU-012…: 1,000 SKUs at 10⁶ numbers, 10⁵ loaded → ~100–1,000 matches
        return f"/api/products/?q={sku(rng.randrange(first, first + products))[: 4 + SKU_DIGITS - 3]}"
    if kind == "q + filters + ordering":
        return f"/api/products/?q={word}&min_price=50&max_price=300&in_stock=true&ordering={rng.choice(ORDERINGS)}"
    if kind == "q + page 2":
        return f"/api/products/?q={word}&page=2"
    return "/api/products/"


def sku(number: int) -> str:
    return f"SKU-{number:0{SKU_DIGITS}d}"


def product_id(number: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5('bench-search-' || %s::text)::uuid::text", [number])
        return cursor.fetchone()[0]


def _pick(words: list[str], hex_from: int) -> str:
    # The word at md5(g)'s 16-bit number at `hex_from`, modulo the vocabulary's size.
    array = "ARRAY[" + ", ".join(f"'{w.capitalize()}'" for w in words) + "]"
    return f"({array})[1 + ('x' || substr(h, {hex_from}, 4))::bit(16)::int %% {len(words)}]"


def search_bulk_load(products: int) -> int:
    """Insert `products` active-or-not products numbered after the existing ones; return the first number."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_product WHERE sku LIKE 'SKU-%'")
        first = cursor.fetchone()[0] + 1
        cursor.execute(
            f"""
            INSERT INTO inventory_product (id, sku, name, price, active, on_hand, reserved, revision,
                                           created_at, updated_at)
            SELECT md5('bench-search-' || g::text)::uuid,
                   'SKU-' || lpad(g::text, {SKU_DIGITS}, '0'),
                   {_pick(ADJECTIVES, 1)} || ' ' || {_pick(MATERIALS, 5)} || ' ' || {_pick(NOUNS, 9)},
                   1 + ('x' || substr(h, 13, 4))::bit(16)::int %% 50000 / 100.0,
                   g %% 23 <> 0,
                   ('x' || substr(h, 17, 2))::bit(8)::int %% 40,
                   0, 1, now() - g * interval '1 minute', now()
            FROM (SELECT g, md5(g::text) AS h FROM generate_series(%s, %s) g) numbered
            """,
            [first, first + products - 1],
        )
        # on_hand = Σ ledger (invariant I2): one initial movement per stocked product.
        cursor.execute(
            """
            INSERT INTO inventory_stockmovement (product_id, delta, kind, reason, order_id, at, user_id)
            SELECT id, on_hand, 'initial', 'bench bulk load', NULL, created_at, NULL
            FROM inventory_product WHERE sku LIKE 'SKU-%' AND on_hand > 0
              AND id NOT IN (SELECT product_id FROM inventory_stockmovement)
            """
        )
        cursor.execute("VACUUM ANALYZE inventory_product")
        cursor.execute("VACUUM ANALYZE inventory_stockmovement")
    return first


def count_active() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_product WHERE active")
        return cursor.fetchone()[0]


def explain(sql: str, params) -> str:
    """'count|rows: <indexes used, or the scans> <execution ms>' of one statement, from EXPLAIN (ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0][0]
    used, stack = [], [plan["Plan"]]
    while stack:
        node = stack.pop()
        if "Index Name" in node or node["Node Type"] == "Seq Scan":
            used.append(node.get("Index Name") or "Seq Scan")
        stack.extend(node.get("Plans", []))
    kind = "count" if sql.lstrip().upper().startswith("SELECT COUNT") else "rows"
    return f"{kind}: {' + '.join(used) or plan['Plan']['Node Type']} {plan['Execution Time']:.1f} ms"
