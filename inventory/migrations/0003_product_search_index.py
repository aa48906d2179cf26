"""
The GIN index of product search, on PostgreSQL only.

It indexes exactly the expression inventory.selectors.product_search_vector() builds — the
words of name and sku as "simple" text, and the whole sku as one lexeme — compiled by Django
from the same expressions, so the planner matches it to the search's WHERE clause (a copy
here, not an import: a migration must keep meaning what it meant when it ran).

It is not declared in Product.Meta.indexes on purpose: on SQLite a table rebuild (SQLite's
way of altering a column) re-creates every index of Meta, and a GIN index there would fail.
Nothing in the migration state refers to it, so `makemigrations` stays clean; on other
databases both directions do nothing.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import CombinedSearchVector, SearchVector, SearchVectorField
from django.db import migrations
from django.db.models import Func

INDEX_NAME = "inventory_product_search_gin"


def search_index() -> GinIndex:
    words = SearchVector("name", "sku", config="simple")
    whole_sku = Func(
        "sku", template="array_to_tsvector(ARRAY[lower(%(expressions)s)])", output_field=SearchVectorField()
    )
    return GinIndex(CombinedSearchVector(words, "||", whole_sku, None), name=INDEX_NAME)


def index_created(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("inventory", "Product"), search_index())


def index_dropped(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("inventory", "Product"), search_index())


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_handlers_named_on_event")]

    operations = [migrations.RunPython(index_created, index_dropped, elidable=False)]
