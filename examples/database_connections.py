"""Never open more database connections than the database accepts, across every process.

slotgate gcl create database --limit 10    # the database's max_connections
"""

from concurrent.futures import ThreadPoolExecutor

from slotgate import concurrency


def run_query(connect, query):
    with concurrency("database", occupy=1), connect() as connection:
        return connection.execute(query)


def run_queries(connect, queries, threads=50):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda query: run_query(connect, query), queries))
