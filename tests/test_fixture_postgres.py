"""The throw-away PostgreSQL fixture: it starts, answers on 127.0.0.1 only, isolates databases."""
# ruff: noqa: F811 - the fixtures are imported from tests.helpers.postgres

import psycopg

from tests.helpers.postgres import postgres_cluster, postgres_url  # noqa: F401 - fixtures


def test_cluster_answers_on_loopback(postgres_url):
    assert "@127.0.0.1:" in postgres_url
    with psycopg.connect(postgres_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
    assert version.split(".")[0].isdigit()
    assert listen == "127.0.0.1"


def test_each_test_gets_an_empty_database(postgres_cluster, postgres_url):
    other = postgres_cluster.database()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
    with psycopg.connect(other) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't'").fetchone()[0]
    assert tables == 0


def test_wrong_password_is_refused(postgres_cluster):
    url = postgres_cluster.url().replace(postgres_cluster.password, "wrong")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        assert "password" in str(exc)
    else:
        raise AssertionError("a wrong password was accepted")
