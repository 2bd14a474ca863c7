"""PostgreSQL connection URLs (`postgresql://user:password@host:port/database?options`):
recognised, checked for a password, and shown without one."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

SCHEMES = ("postgresql", "postgres")


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES and "://" in url


def password(url: str) -> str | None:
    """The password in the user part or as a `password=` option, if any."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    options = dict(parse_qsl(parts.query))
    return userinfo.partition(":")[2] or options.get("password") or None


def has_password(url: str) -> bool:
    return password(url) is not None


def redacted(url: str) -> str:
    """The URL without its password, safe for logs and messages."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    options = "&".join(o for o in parts.query.split("&") if o.partition("=")[0] != "password")
    query = f"?{options}" if options else ""
    return f"{parts.scheme}://{user}{at}{hosts}{parts.path}{query}"
