"""Brute-force brakes in the shared cache (Redis in production): fixed windows per key."""

import hashlib

from django.core.cache import cache

from config.errors import DomainError


class TooManyAttempts(DomainError):
    code = "throttled"
    status = 429
    message = "Too many attempts. Wait a few minutes and try again."


def client_ip(request) -> str:
    # Behind a proxy, REMOTE_ADDR is the client's only if FORWARDED_ALLOW_IPS names it (config/wsgi.py).
    return request.META.get("REMOTE_ADDR", "unknown")


def _key(scope: str, ident: str) -> str:
    # Hashed: `ident` is what a client typed (any length, any character: not a valid key for
    # every cache), and a phone number is kept out of the cache's keys.
    digest = hashlib.blake2b(ident.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"throttle:{scope}:{digest}"


def check(scope: str, ident: str, limit: int) -> None:
    if (cache.get(_key(scope, ident)) or 0) >= limit:
        raise TooManyAttempts(
            retry_after_seconds=cache.ttl(_key(scope, ident)) if hasattr(cache, "ttl") else None
        )


def hit(scope: str, ident: str, window_seconds: int) -> int:
    key = _key(scope, ident)
    if cache.add(key, 1, timeout=window_seconds):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window_seconds)
        return 1


def reset(scope: str, ident: str) -> None:
    cache.delete(_key(scope, ident))


# Login: failures per phone and per client address within 15 minutes.
LOGIN_WINDOW = 15 * 60
LOGIN_PER_PHONE = 5
LOGIN_PER_IP = 30


def guard_login(request, phone: str) -> None:
    check("login-phone", phone, LOGIN_PER_PHONE)
    check("login-ip", client_ip(request), LOGIN_PER_IP)


def login_failed(request, phone: str) -> None:
    hit("login-phone", phone, LOGIN_WINDOW)
    hit("login-ip", client_ip(request), LOGIN_WINDOW)


def login_succeeded(phone: str) -> None:
    reset("login-phone", phone)


def guard(request, scope: str, limit: int, window_seconds: int) -> None:
    """Counts every call (registrations, PIN requests) per client address."""
    ident = client_ip(request)
    check(scope, ident, limit)
    hit(scope, ident, window_seconds)
