"""How a request is authorised.

An auth object adds its headers to one outgoing request. The transport calls it for every attempt, so a
signed request (AWS SigV4, Tencent TC3) is signed anew on each retry. ``SECRET_HEADERS`` names the headers
that carry a credential: they are dropped on a redirect to another host and never logged. ``repr()``
never shows a credential.

Credentials are checked when they are given (``check_credential``): a stray newline, a leading space or a
pasted curly quote is a ``ConfigurationError`` naming the problem and its position, never the value.

Keys never travel in a pickle. An auth built with ``Auth.from_env({"param": "VAR", ...}, **public)`` reads
its secret parameters from those environment variables and pickles as that recipe (the class, the public
parameters, the variables' names): it reads the secrets again in the process that unpickles it. An auth
holding literal credentials refuses to pickle with a ``TypeError``; one without credentials pickles as it is.
"""

import datetime
import hashlib
import hmac
import os
import time
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import quote, unquote_to_bytes, urlsplit

from .errors import ConfigurationError

__all__ = [
    "Auth",
    "BearerAuth",
    "HeaderKeyAuth",
    "NoAuth",
    "SECRET_HEADERS",
    "AwsSigV4Auth",
    "SigV4Parts",
    "aws_quote_path_segment",
    "TencentTc3Auth",
    "Tc3Parts",
    "tc3_sign",
    "check_credential",
    "read_env_credential",
]

#: Headers that carry credentials, lower-case. Stripped on cross-origin redirects, masked in logs.
SECRET_HEADERS: FrozenSet[str] = frozenset(
    {
        "authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-amz-security-token",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-tc-timestamp",
        "x-tc-token",
        "proxy-authorization",
        "cookie",
    }
)


def check_credential(value: str, what: str, provider: Optional[str] = None) -> None:
    """Refuse a credential that no service would accept, naming the problem and position, never the value.

    Refused: whitespace at either end (a trailing newline from a file, a leading space), and any character
    outside printable ASCII (a pasted curly quote, a control character) -- HTTP headers cannot carry them.

    >>> check_credential("sk-test", "api_key")
    >>> check_credential("sk-test\\n", "api_key")
    Traceback (most recent call last):
    ...
    llm_connector.errors.ConfigurationError: api_key: ends with a newline (position 8 of 8)
    """
    if not isinstance(value, str):
        raise ConfigurationError(f"{what}: expected a string, got {type(value).__name__}", provider=provider)
    size = len(value)
    for position, char in enumerate(value, 1):
        if " " < char <= "~":
            continue
        if char.isspace() and (position == 1 or value[position - 1:].isspace()):
            where = "starts" if position == 1 else "ends"
            problem = f"{where} with {_describe(char)}"
        elif char.isspace():
            problem = f"contains {_describe(char)}"
        else:
            problem = f"contains {_describe(char)}, which an HTTP header cannot carry"
        raise ConfigurationError(f"{what}: {problem} (position {position} of {size})", provider=provider)


def _describe(char: str) -> str:
    names = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}
    if char in names:
        return names[char]
    hint = " (a pasted quote?)" if char in "\u2018\u2019\u201c\u201d\u00ab\u00bb" else ""
    kind = "non-ASCII character" if ord(char) > 127 else "control character"
    return f"the {kind} U+{ord(char):04X}{hint}"


def read_env_credential(variable: str, what: str, provider: Optional[str] = None) -> str:
    """The credential in environment variable ``variable``, checked (``check_credential``).

    A ``ConfigurationError`` naming the variable (never its value) when it is unset, empty or malformed.
    """
    value = os.environ.get(variable)
    if not value:
        raise ConfigurationError(f"{what}: environment variable {variable} is not set", provider=provider)
    check_credential(value, f"{what} (from ${variable})", provider)
    return value


def _auth_from_env(cls: "type", env: Dict[str, str], public: Dict[str, Any]) -> "Auth":
    """Unpickling an auth built by ``Auth.from_env``: read the secrets here, in this process."""
    return cls.from_env(env, **public)  # type: ignore[attr-defined,no-any-return]


class Auth:
    """Base class: adds credentials to a request's headers. The default adds nothing."""

    #: Set by ``from_env``: (the public keyword arguments, {secret parameter: environment variable}).
    _env_recipe: Optional[Tuple[Dict[str, Any], Dict[str, str]]] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **public: Any) -> "Auth":
        """This auth with each secret parameter read from an environment variable.

        ``env`` maps a constructor parameter to the variable holding it (``{"token": "VERTEX_TOKEN"}``);
        ``public`` are the other constructor arguments. Such an auth pickles as this recipe and reads the
        variables again where it is unpickled. A ``ConfigurationError`` names a variable that is unset.
        """
        secrets = {param: read_env_credential(variable, param) for param, variable in env.items()}
        auth = cls(**public, **secrets)
        auth._env_recipe = (dict(public), dict(env))
        return auth

    def __reduce_ex__(self, protocol: Any) -> Any:
        if self._env_recipe is not None:
            public, env = self._env_recipe
            return _auth_from_env, (type(self), env, public)
        if self.has_credentials:
            name = type(self).__name__
            raise TypeError(
                f"cannot pickle {name}: it holds literal credentials, which a pickle would carry in clear. "
                f"Build it with {name}.from_env({{parameter: 'ENV_VAR', ...}}, ...) (the client constructors "
                "take api_key_env= / *_env= options) so that it pickles as a recipe reading the environment"
            )
        return super().__reduce_ex__(protocol)

    def apply(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        """Add this credential's headers to ``headers`` (in place) for one attempt."""

    @property
    def has_credentials(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<hidden>)"


class NoAuth(Auth):
    """No credentials (Ollama, the mock provider, unauthenticated gateways)."""

    def __repr__(self) -> str:
        return "NoAuth()"


class BearerAuth(Auth):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        if token:
            check_credential(token, "token")
        self._value = "Bearer " + token
        self._token = token

    def apply(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        headers["Authorization"] = self._value

    @property
    def has_credentials(self) -> bool:
        return bool(self._token)


class HeaderKeyAuth(Auth):
    """The key in a header of its own: ``x-api-key`` (Anthropic), ``api-key`` (Azure), ``x-goog-api-key``."""

    def __init__(self, header: str, key: str) -> None:
        if key:
            check_credential(key, "api_key")
        self._header = header
        self._key = key

    def apply(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        headers[self._header] = self._key

    @property
    def has_credentials(self) -> bool:
        return bool(self._key)

    def __repr__(self) -> str:
        return f"HeaderKeyAuth({self._header!r}, <hidden>)"


# --- AWS Signature Version 4 -------------------------------------------------------------------------------

_SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"

#: RFC 3986 unreserved characters besides letters and digits: kept as they are by URI encoding.
_UNRESERVED = "-_.~"

#: Headers left out of the signature: the transport or a proxy may add, drop or rewrite them after
#: signing (hop-by-hop headers, lengths and encodings), and ``authorization`` carries the signature.
_UNSIGNED_HEADERS: FrozenSet[str] = frozenset(
    {
        "authorization",
        "user-agent",
        "content-length",
        "expect",
        "connection",
        "accept-encoding",
        "keep-alive",
        "proxy-authorization",
        "te",
        "transfer-encoding",
        "upgrade",
        "x-amzn-trace-id",
    }
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class SigV4Parts(NamedTuple):
    """The steps of one SigV4 signature, kept for inspection and tests."""

    canonical_request: str
    string_to_sign: str
    signed_headers: str
    signature: str
    authorization: str
    amz_date: str


def aws_quote_path_segment(segment: str) -> str:
    """URI-encode one path segment for a request URL (RFC 3986: only ``A-Za-z0-9-._~`` kept).

    >>> aws_quote_path_segment("anthropic.claude-3-5-sonnet-20240620-v1:0")
    'anthropic.claude-3-5-sonnet-20240620-v1%3A0'
    """
    return quote(segment, safe=_UNRESERVED)


class AwsSigV4Auth(Auth):
    """AWS Signature Version 4 (``AWS4-HMAC-SHA256``) in the ``Authorization`` header.

    For services other than S3 (Bedrock among them): the canonical URI is the URL's path with dot
    segments and repeated slashes removed, each segment URI-encoded once more as it appears in the URL
    (a model id's ``%3A`` is signed as ``%253A``). The payload is hashed, never sent unsigned.

    Signed headers: ``host`` (the ``Host`` header if given, else the URL's host with a non-default port),
    ``x-amz-date``, ``x-amz-security-token`` (with a session token), and every other header already in
    ``headers`` (``content-type``, ``accept``, ``anthropic-version``, ...) except those a transport or proxy
    may change: ``authorization``, ``user-agent``, ``content-length``, ``expect``, ``connection``,
    ``accept-encoding`` and the other hop-by-hop headers. ``apply`` adds ``X-Amz-Date``,
    ``X-Amz-Security-Token`` (with a session token) and ``Authorization``; each call reads the clock, so
    a retry is signed anew.

    >>> auth = AwsSigV4Auth("AKIDEXAMPLE", "secret", "us-east-1")
    >>> auth
    AwsSigV4Auth(region='us-east-1', service='bedrock', <hidden>)
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        region: str,
        service: str = "bedrock",
        session_token: Optional[str] = None,
        clock: Optional[Callable[[], datetime.datetime]] = None,
    ) -> None:
        for value, what in ((access_key, "access_key"), (secret_key, "secret_key"), (session_token, "session_token")):
            if value:
                check_credential(value, what)
        self._access_key = access_key
        self._secret_key = secret_key
        self._session_token = session_token or None
        self.region = region
        self.service = service
        self._clock = clock or _utc_now

    @property
    def has_credentials(self) -> bool:
        return bool(self._access_key and self._secret_key)

    def __repr__(self) -> str:
        return f"AwsSigV4Auth(region={self.region!r}, service={self.service!r}, <hidden>)"

    def apply(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        """Sign one attempt: set ``X-Amz-Date``, ``X-Amz-Security-Token`` and ``Authorization``."""
        parts = self.sign(method, url, headers, body)
        _drop_headers(headers, ("x-amz-date", "x-amz-security-token", "authorization"))
        headers["X-Amz-Date"] = parts.amz_date
        if self._session_token:
            headers["X-Amz-Security-Token"] = self._session_token
        headers["Authorization"] = parts.authorization

    def sign(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> SigV4Parts:
        """Compute the signature of a request at the clock's current time, without changing ``headers``."""
        now = _as_utc(self._clock())
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        to_sign = dict(headers)
        _drop_headers(to_sign, ("x-amz-date", "x-amz-security-token"))
        to_sign["x-amz-date"] = amz_date
        if self._session_token:
            to_sign["x-amz-security-token"] = self._session_token
        canonical, signed_headers = _canonical_request(method, url, to_sign, body)
        scope = f"{amz_date[:8]}/{self.region}/{self.service}/aws4_request"
        string_to_sign = _string_to_sign(amz_date, scope, canonical)
        key = _signing_key(self._secret_key, amz_date[:8], self.region, self.service)
        signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        authorization = (
            f"{_SIGV4_ALGORITHM} Credential={self._access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
        return SigV4Parts(canonical, string_to_sign, signed_headers, signature, authorization, amz_date)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _as_utc(moment: datetime.datetime) -> datetime.datetime:
    """A naive datetime is taken as UTC; an aware one is converted."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(datetime.timezone.utc)


def _drop_headers(headers: Dict[str, str], names: Tuple[str, ...]) -> None:
    """Remove every spelling (any letter case) of ``names`` from ``headers``."""
    for key in [k for k in headers if k.lower() in names]:
        del headers[key]


def _canonical_request(
    method: str, url: str, headers: Dict[str, str], body: Optional[bytes]
) -> Tuple[str, str]:
    """The SigV4 canonical request of a request and its ``SignedHeaders`` list."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"cannot sign a request to {url!r}: {exc}") from None
    canonical_headers = _canonical_headers(headers, _host_of(parts.scheme, parts.hostname, port))
    signed_headers = ";".join(name for name, _ in canonical_headers)
    lines = [
        method.upper(),
        _canonical_uri(parts.path),
        _canonical_query(parts.query),
        "".join(f"{name}:{value}\n" for name, value in canonical_headers),
        signed_headers,
        hashlib.sha256(body or b"").hexdigest(),
    ]
    return "\n".join(lines), signed_headers


def _string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return "\n".join([_SIGV4_ALGORITHM, amz_date, scope, digest])


def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """``kSigning``: the secret HMAC-chained through date, region, service and ``aws4_request``."""
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _host_of(scheme: str, hostname: Optional[str], port: Optional[int]) -> str:
    """The ``Host`` value a client sends for a URL: the port only when it is not the scheme's default."""
    host = hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme.lower()):
        host = f"{host}:{port}"
    return host


def _canonical_uri(path: str) -> str:
    """Remove dot segments and empty segments, then URI-encode each segment (``%`` becomes ``%25``)."""
    segments: List[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(quote(segment, safe=_UNRESERVED))
    trailing = "/" if segments and path.endswith("/") else ""
    return "/" + "/".join(segments) + trailing


def _canonical_query(query: str) -> str:
    """Each name and value decoded, then URI-encoded once; sorted by name, then value."""
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_encode_query_part(name), _encode_query_part(value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _encode_query_part(text: str) -> str:
    return quote(unquote_to_bytes(text), safe=_UNRESERVED)


def _canonical_headers(headers: Dict[str, str], url_host: str) -> List[Tuple[str, str]]:
    """Lower-case names, sorted; values trimmed, whitespace runs made one space, repeats joined by ``,``."""
    values: Dict[str, List[str]] = {}
    for name, value in headers.items():
        key = name.strip().lower()
        if key not in _UNSIGNED_HEADERS and value is not None:  # requests drops a header set to None
            values.setdefault(key, []).append(" ".join(str(value).split()))
    if "host" not in values:
        values["host"] = [url_host]
    return [(name, ",".join(values[name])) for name in sorted(values)]


# --- Tencent Cloud API v3 signature (TC3-HMAC-SHA256) -----------------------------------------------------

_TC3_ALGORITHM = "TC3-HMAC-SHA256"


class Tc3Parts(NamedTuple):
    """The steps of one TC3 signature, kept for inspection and tests."""

    canonical_request: str
    string_to_sign: str
    signature: str
    authorization: str
    timestamp: str
    date: str


def tc3_sign(
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    payload: bytes,
    timestamp: int,
    content_type: str = "application/json",
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> Tc3Parts:
    """Tencent Cloud's TC3-HMAC-SHA256 signature of one request, as a pure function of its parts.

    Signs ``content-type`` and ``host`` (the headers Tencent requires; ``content_type`` must be the exact value
    sent) and the SHA-256 of ``payload``, the exact body bytes. The credential scope's date is the UTC date of
    ``timestamp`` (never the local date: a client in UTC+8 would otherwise fail every night after midnight).

    >>> parts = tc3_sign("AKIDEXAMPLE", "secret", "hunyuan", "hunyuan.tencentcloudapi.com", b"{}", 1551113065)
    >>> parts.date, parts.authorization.split(", ")[1]
    ('2019-02-25', 'SignedHeaders=content-type;host')
    """
    date = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")
    canonical = "\n".join([
        method.upper(),
        uri or "/",
        query,
        f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n",
        "content-type;host",
        hashlib.sha256(payload).hexdigest(),
    ])
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join([
        _TC3_ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    ])
    key = ("TC3" + secret_key).encode("utf-8")
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (
        f"{_TC3_ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"
    )
    return Tc3Parts(canonical, string_to_sign, signature, authorization, str(timestamp), date)


class TencentTc3Auth(Auth):
    """Tencent Cloud API v3 (``TC3-HMAC-SHA256``): ``Authorization`` and ``X-TC-Timestamp`` for each attempt.

    ``service`` is the product name in the credential scope (``hunyuan``). The signed host is the request's
    own (its ``Host`` header if given, else the URL's host), never a hard-coded one; the signed content type
    is the request's ``Content-Type``. Each call reads the clock, so a retry is signed anew. With a
    ``session_token`` (temporary credentials) ``X-TC-Token`` is sent too.

    The credentials never travel in a pickle: built with ``TencentTc3Auth.from_env(...)`` it pickles as that
    recipe; built from literal credentials, pickling raises ``TypeError``.

    >>> TencentTc3Auth("AKIDEXAMPLE", "secret")
    TencentTc3Auth(service='hunyuan', <hidden>)
    """

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        service: str = "hunyuan",
        session_token: Optional[str] = None,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._session_token = session_token or None
        self.service = service
        self._clock = clock or time.time

    @property
    def has_credentials(self) -> bool:
        return bool(self._secret_id and self._secret_key)

    def __repr__(self) -> str:
        return f"TencentTc3Auth(service={self.service!r}, <hidden>)"

    def sign(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> Tc3Parts:
        """The signature of a request at the clock's current time, without changing ``headers``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"cannot sign a request to {url!r}: {exc}") from None
        lowered = {k.lower(): v for k, v in headers.items() if v is not None}
        host = lowered.get("host") or _host_of(parts.scheme, parts.hostname, port)
        return tc3_sign(
            self._secret_id, self._secret_key, self.service, host, body or b"", int(self._clock()),
            content_type=lowered.get("content-type", ""), method=method, uri=parts.path or "/",
            query=parts.query if method.upper() == "GET" else "",
        )

    def apply(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        """Sign one attempt: set ``X-TC-Timestamp``, ``X-TC-Token`` (with a session token) and ``Authorization``."""
        parts = self.sign(method, url, headers, body)
        _drop_headers(headers, ("x-tc-timestamp", "x-tc-token", "authorization"))
        headers["X-TC-Timestamp"] = parts.timestamp
        if self._session_token:
            headers["X-TC-Token"] = self._session_token
        headers["Authorization"] = parts.authorization
