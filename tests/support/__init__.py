"""
Helpers the tests import: one home for each. Fixtures stay in conftest.py modules,
which nothing imports.

* waiting.py      wait for a condition with a deadline; wait until the system is quiet
* bus.py          the bus driven in-process (unit tests), and one event delivered again
* workers.py      real `celery worker` subprocesses on the test database and Redis
* orders.py       place an order through the API, wait for a status or the catalogue
* invariants.py   assert I1–I5 once the system is quiet
* stock.py        stock vs ledger vs reservations, product by product
* redis_server.py a Redis server owned by one test, and Celery pointed at it
"""
