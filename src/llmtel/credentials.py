"""Credentials kept out of telemetry: API keys and tokens in URLs, in captured HTTP headers and in log records.

Captured content has its own redactor (``llmtel.genai.content``), which users may replace or turn off. This is
not optional: a key in a query string (``?api-key=…``), a captured ``Authorization`` header or a bearer token
in a log line is of no use in a trace backend, and anyone who can read the traces could use it. Spans are
scrubbed as they start (``CredentialScrubber``), log records where llmtel turns them into OpenTelemetry ones.

Credentials are found two ways: by their shape or their name (``sk-…``, ``Bearer …``, ``password=…``), and by
their value. The values the process is known to hold (``known_secrets``: its environment's credentials, its
exporters' headers, the API keys of OpenAI clients whose calls failed, and what the app passes to
``mask_secret``) are masked wherever they appear, whatever their shape: a server that echoes a key back in
an error message cannot put it in a span.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

_logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"  # a credential's value, where the value stands alone (a header, a log attribute)
REDACTED_IN_URL = "REDACTED"  # inside a URL, where brackets would need escaping (as OpenTelemetry's own)

# Names that hold a credential (compared lower-cased, with ``-`` and ``.`` as ``_`` and camelCase words split:
# ``accessToken`` and ``SecretAccessKey`` as ``access_token`` and ``secret_access_key``): exactly one of these
# words, or ending in one of the suffixes. Plural "tokens" (token counts, ``maxTokens``) is not one.
_CREDENTIAL_NAMES = frozenset({
    "token", "secret", "password", "passwd", "pwd", "passphrase", "authorization", "auth", "apikey", "api_key",
    "credential", "credentials", "signature", "cookie", "set_cookie", "private_key", "access_key",
})
_CREDENTIAL_SUFFIXES = (
    "_token", "_secret", "_password", "_apikey", "api_key", "_signature", "_credential", "_credentials",
    "access_key", "secret_key", "private_key", "subscription_key", "access_key_id", "_cookie", "_auth",
    "_authorization",
)
# In a query string only: short names services use for keys and signatures (``?key=`` is Google's API key),
# too generic to treat as credentials as the names of log attributes.
_QUERY_ONLY_NAMES = frozenset({"key", "sig", "awsaccesskeyid"})
# Where a camelCase or PascalCase name starts a word: the JSON of JavaScript clients and AWS's APIs
# (``"SessionToken"``, ``"clientSecret"``). A run of capitals stays one word (``APIKey`` is ``apikey``).
_CAMEL_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=1024)
def is_credential_name(name: str) -> bool:
    """Whether a header, log attribute or query parameter called ``name`` holds a credential (``api-key``,
    ``Authorization``, ``client_secret``, ``x-goog-api-key``, ``accessToken``…)."""
    normal = _CAMEL_WORD.sub("_", name).lower().replace("-", "_").replace(".", "_")
    return normal in _CREDENTIAL_NAMES or normal.endswith(_CREDENTIAL_SUFFIXES)


@functools.lru_cache(maxsize=1024)
def _is_credential_parameter(name: str) -> bool:
    return name.lower() in _QUERY_ONLY_NAMES or is_credential_name(name)


def _parameter(match: re.Match[str]) -> str:
    return match[1] + REDACTED_IN_URL if _is_credential_parameter(match[2]) else match[0]


def _random_looking(value: str) -> bool:
    """Capitals, small letters and a digit (or ``/``, ``+``) mixed, as in a random key: not a word, an identifier
    in one case, or a hexadecimal digest (a git commit's 40 characters)."""
    return (any(char.isupper() for char in value) and any(char.islower() for char in value)
            and any(char.isdigit() or char in "/+" for char in value))


_AWS_KEY_ID = r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
_AWS_KEY_ID_PATTERN = re.compile(_AWS_KEY_ID)


def _aws_key(match: re.Match[str]) -> str:
    """An AWS access key id; or a 40-character run that is its secret access key: random-looking, in a text that
    holds an access key id."""
    if match[1] is None:
        return "[REDACTED:aws_key]"
    if _random_looking(match[1]) and _AWS_KEY_ID_PATTERN.search(match.string) is not None:
        return "[REDACTED:aws_secret]"
    return match[0]


def _labelled_aws_secret(match: re.Match[str]) -> str:
    """The 40 characters after "secret access key", when they look random."""
    return match[1] + "[REDACTED:aws_secret]" if _random_looking(match[2]) else match[0]


def _assignment(match: re.Match[str]) -> str:
    value = match[4]
    if value.startswith(("REDACTED", "[REDACTED")):
        return match[0]  # redacted already (a query parameter, a key)
    if not is_credential_name(match[1]):
        # Not a credential's name; but a quoted value, taken whole, may hold assignments of its own
        # (``"message": "Invalid value (password=hunter2)"``): they are looked for inside it.
        if ("=" in value or ":" in value) and len(value) > 2:
            inner = _ASSIGNMENT.sub(_assignment, value)
            if inner != value:
                return match[0][: len(match[0]) - len(value)] + inner
        return match[0]
    return match[1] + match[2] + (match[3] or "") + REDACTED


# Secrets recognisable in free text, in the order they are replaced: (hints, pattern, replacement). A pattern
# runs only when the lower-cased text contains one of its hints (most log lines contain none, and a substring
# test costs a fraction of a regular expression's scan). The user-info and query-parameter forms also find
# credentials in URLs written into messages (``requests``' "… for url: https://…?api_key=…"). Every pattern
# runs in time linear in the text: each can start only where a run of its characters starts, and nothing
# unbounded is followed by more (a 32,000-character run took 85 s before these rules).
SECRET_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], Any], ...] = (
    # ``sk-`` starting a word; glued after a dash (``run-sk-proj-…``, an id made from a key) only with one of
    # OpenAI's typed prefixes, so that hyphenated words (``task-sk-learn-…``) stay.
    (("sk-",), re.compile(r"(?:(?<![A-Za-z0-9_\-])|(?<=-)(?=sk-(?:proj|svcacct|admin)-))sk-[A-Za-z0-9_\-]{16,}"),
     "[REDACTED:api_key]"),
    # An AWS access key id; and its secret access key, 40 characters of base64 with no prefix: in the text of an
    # access key id (the pair, as a credentials file or ``aws configure`` prints them), a random-looking run of
    # exactly 40 is one. Elsewhere it cannot be told from other ids and digests. Each run is tried from its start.
    (
        ("akia", "asia"),
        re.compile(_AWS_KEY_ID + r"|(?<![A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
        _aws_key,
    ),
    (("ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_"),
     re.compile(r"\b(?:ghp|gho|ghs|ghu|ghr|github_pat)_[A-Za-z0-9_]{20,}"), "[REDACTED:token]"),
    (("aiza",), re.compile(r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"), "[REDACTED:api_key]"),
    (("xox",), re.compile(r"(?<![A-Za-z0-9_\-])xox[abposr]-[A-Za-z0-9\-]{10,}"), "[REDACTED:token]"),
    (
        ("private key",),
        re.compile(r"-----BEGIN ([A-Z ]{0,32})PRIVATE KEY-----[A-Za-z0-9+/=\s]{0,16384}-----END \1PRIVATE KEY-----"),
        "[REDACTED:private_key]",
    ),
    (("bearer",), re.compile(r"(?i)\bbearer\s{1,8}[A-Za-z0-9._\-~+/]{16,}=*"), "Bearer [REDACTED:token]"),
    (
        ("eyj",),
        re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,4096}\.[A-Za-z0-9_\-]{8,16384}\.[A-Za-z0-9_\-]{8,}"),
        "[REDACTED:jwt]",
    ),
    # A URL's user info: from the "://" after a scheme (a pattern that starts with the scheme is tried at every
    # letter of every line that holds a URL; this one only where "://" is), to the "@".
    (
        ("://",),
        re.compile(r"(?<=[a-zA-Z0-9+.\-])://[^\s/?#@:]{1,256}:[^\s/?#@]{1,256}@"),
        "://REDACTED:REDACTED@",
    ),
    # Query parameters, and the fragment's (``#access_token=…&token_type=bearer``: OAuth's implicit flow returns
    # its tokens there, and a callback URL in a log line or a span keeps them).
    (("=",), re.compile(r"([?&;#]([^=&;#?\s\"'<>]{1,128})=)[^&;#\s\"'<>]+"), _parameter),
    # ``password=…``, ``"api_key": "…"``, ``Authorization: Basic …``: a credential's name, then its value. The
    # hints are the words every name ``is_credential_name`` accepts contains one of.
    (
        ("token", "secret", "passw", "pwd", "passphrase", "auth", "key", "credential", "signature", "cookie"),
        re.compile(
            r"(?i)(?<![\w.\-])([\w.\-]{1,64})(\"?'?[ \t]{0,8}[:=][ \t]{0,8}\"?'?)"
            # an auth scheme is kept and the credential after it masked (``Authorization: Token …``: GitHub's,
            # Django REST framework's; ``ApiKey …``: Elasticsearch's)
            r"((?:basic|bearer|digest|token|apikey)[ \t]{1,8})?"
            # the value: to its closing quote when quoted (it may hold spaces), else to the next space or delimiter
            r"((?<=\")[^\"\n]{1,512}(?=\")|(?<=')[^'\n]{1,512}(?=')|[^\s\"',;&}\]]+)"
        ),
        _assignment,
    ),
    # An AWS secret access key after its name written out: ``aws configure``'s prompt ("AWS Secret Access Key
    # [None]: …"), a command line (``aws configure set aws_secret_access_key …``), prose. After the ``name=value``
    # pattern, which masks the forms with ``=`` or ``:`` and a name it knows ("[REDACTED]" is not 40 characters).
    (
        ("secret",),
        re.compile(
            r"(?i)((?<![A-Za-z0-9])secret[ _\-]?access[ _\-]?key(?:[ \t]{1,8}\[[^\]\n]{0,64}\])?"
            r"[\"']?(?:[ \t]{0,8}[:=][ \t]{0,8}|[ \t]{1,8})[\"']?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        _labelled_aws_secret,
    ),
)


# ``name=value``: its replacement looks inside values it takes whole
_ASSIGNMENT = next(pattern for _, pattern, replacement in SECRET_PATTERNS if replacement is _assignment)


# --- secrets known by their value ---------------------------------------------------------------------------

KNOWN_SECRET = "[REDACTED:secret]"  # a known secret's value, in free text
MIN_SECRET_LENGTH = 12  # shorter values ("test", "EMPTY", "ollama") are placeholders, and would mask common words
MAX_KNOWN_SECRETS = 64  # each costs a substring search of every text that is masked
# The exporter headers' variables: every value in them authenticates the export (``x-honeycomb-team``, ``api-key``,
# ``Authorization``), whatever the header is called.
_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                     "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS")
_AUTH_SCHEMES = ("basic ", "bearer ", "digest ", "token ")

# Longest first, so that a secret containing another is masked whole. One slot, replaced whole under the lock
# and read without it: the texts being masked never wait for a secret being added.
_known: list[tuple[str, ...]] = [()]
_known_lock = threading.Lock()
_warned_full: list[bool] = [False]


def known_secrets() -> tuple[str, ...]:
    """The values masked wherever they appear (and, in URLs, their percent-encoded forms), longest first."""
    return _known[0]


def _plausible_secret(value: str) -> bool:
    """Long enough to be a secret and not a file's path (``GOOGLE_APPLICATION_CREDENTIALS=/etc/key.json``)."""
    return len(value) >= MIN_SECRET_LENGTH and not value.startswith(("/", "~", "./", "../")) and not (
        len(value) > 2 and value[1] == ":" and value[2] in "\\/"  # C:\keys\…
    )


def mask_secret(value: str) -> bool:
    """Mask ``value`` wherever it appears in telemetry text from now on (span attributes, error text, captured
    content, log records), whatever its shape: a key, a password or a token the app holds. True when it is
    masked; False for a value too short to be told from ordinary text (under ``MIN_SECRET_LENGTH``
    characters) or that names a file, or once ``MAX_KNOWN_SECRETS`` are known."""
    if not isinstance(value, str):
        raise TypeError(f"mask_secret() takes the secret as a str, not {type(value).__name__}")
    value = value.strip()
    if not _plausible_secret(value):
        return False
    forms = {value, quote(value, safe="")}  # percent-encoded, as in a URL's path or query
    with _known_lock:
        known = _known[0]
        new = forms.difference(known)
        if not new:
            return True
        if len(known) + len(new) > MAX_KNOWN_SECRETS:
            if not _warned_full[0]:
                _warned_full[0] = True
                _logger.warning("llmtel: %d secrets are masked by value already; no more are added",
                                MAX_KNOWN_SECRETS)
            return False
        _known[0] = tuple(sorted(known + tuple(new), key=len, reverse=True))
    return True


def forget_secrets() -> None:
    """Stop masking the values ``mask_secret`` and the environment added (shapes and names still mask)."""
    with _known_lock:
        _known[0] = ()


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """The secrets an environment holds: the values of variables named as credentials (``OPENAI_API_KEY``,
    ``AZURE_OPENAI_AD_TOKEN``, ``DB_PASSWORD``, any ``…_KEY``), and every value in the OTLP exporters' headers
    (and the token after an auth scheme: ``Authorization=Basic abc…``)."""
    found: list[str] = []
    for name, value in environ.items():
        if name.upper() in _HEADER_VARIABLES:
            found += header_secrets(unquote(pair.partition("=")[2]) for pair in value.split(","))
        elif is_credential_name(name) or name.lower().endswith("_key"):
            found.append(value.strip())
    return [value for value in found if _plausible_secret(value)]


def header_secrets(values: Iterable[str]) -> list[str]:
    """Exporter header values as secrets: each value, and the token after an auth scheme (``Basic abc…``)."""
    found: list[str] = []
    for value in values:
        value = value.strip()
        found.append(value)
        if value.lower().startswith(_AUTH_SCHEMES):
            found.append(value.partition(" ")[2].strip())
    return found


def mask_environment_secrets(environ: Mapping[str, str] | None = None, headers: Iterable[str] = ()) -> None:
    """Mask the secrets the environment holds (``environment_secrets``) and those in exporter ``headers`` given
    as arguments. Run when llmtel sets up or instruments; never raises."""
    try:
        for value in [*environment_secrets(os.environ if environ is None else environ), *header_secrets(headers)]:
            mask_secret(value)  # a placeholder too short to tell from text is passed over
    except Exception:  # noqa: BLE001 - an odd environment must not stop the setup
        _logger.warning("llmtel: could not read the environment's secrets", exc_info=True)


def mask_known_secrets(text: str, replacement: str = KNOWN_SECRET) -> str:
    """``text`` with every known secret's value replaced."""
    for secret in _known[0]:
        if secret in text:
            text = text.replace(secret, replacement)
    return text


def _holds_known_secret(text: str) -> bool:
    for secret in _known[0]:
        if secret in text:
            return True
    return False


def redact_secrets(text: str) -> str:
    """``text`` with API keys, bearer tokens, JWTs, AWS keys, URL passwords and credentials' values masked: the
    known secrets' values, credential query and fragment parameters, and ``name=value`` / ``"name": "value"``
    pairs whose name is a credential's."""
    if _known[0]:
        text = mask_known_secrets(text)
    lowered = text.lower()
    for hints, pattern, replacement in SECRET_PATTERNS:
        for hint in hints:
            if hint in lowered:
                text = pattern.sub(replacement, text)
                break
    return text


def scrub_url(url: str) -> str:
    """``url`` with its user info and the values of credential query parameters replaced by ``REDACTED``
    (``https://host/v1/chat?api-key=REDACTED&api-version=2024-10-21``), and those of credential parameters in
    its fragment (``#access_token=REDACTED``); other secrets in it masked too."""
    if _known[0]:
        url = mask_known_secrets(url, REDACTED_IN_URL)
    if "?" not in url and "@" not in url and "#" not in url and "sk-" not in url:
        return url
    return redact_secrets(url)


def _scrub_query(query: str) -> str:
    """A query string without its ``?`` (``url.query``)."""
    return scrub_url("?" + query)[1:]


# Span attributes that hold a URL or part of one, old and new HTTP conventions, and how each is scrubbed.
_URL_ATTRIBUTES = {
    "url.full": scrub_url,
    "http.url": scrub_url,
    "http.target": scrub_url,
    "url.original": scrub_url,
    "url.query": _scrub_query,
}
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")


def _redacted_header(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [REDACTED] * len(value)
    return REDACTED


def scrubbed_span_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The replacements that keep credentials out of a span's attributes (empty when there are none): URLs
    scrubbed, captured headers whose names hold credentials (``authorization``, ``api_key``, ``cookie``…)
    redacted, known secrets masked in any other text. Captured headers are OpenTelemetry's opt-in
    (``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*``)."""
    changes: dict[str, Any] = {}
    known = _known[0]
    for key in attributes:
        scrub = _URL_ATTRIBUTES.get(key)
        if scrub is not None:
            value = attributes[key]
            if isinstance(value, str):
                scrubbed = scrub(value)
                if scrubbed != value:
                    changes[key] = scrubbed
        elif key.startswith(_HEADER_PREFIXES) and is_credential_name(key.rpartition(".")[2]):
            changes[key] = _redacted_header(attributes[key])
        elif known:  # any other text (a database statement, a header of another name) holding a known secret
            value = attributes[key]
            if isinstance(value, str):
                for secret in known:  # inline: every string attribute of every HTTP span passes here
                    if secret in value:
                        changes[key] = mask_known_secrets(value)
                        break
            elif isinstance(value, (list, tuple)) and any(isinstance(v, str) and _holds_known_secret(v) for v in value):
                changes[key] = [mask_known_secrets(v) if isinstance(v, str) else v for v in value]
    return changes


class CredentialScrubber(SpanProcessor):
    """Scrubs the attributes spans start with (where HTTP instrumentations put the URL and the request
    headers) of credentials; ``scrubbed_span_attributes`` says what. llmtel's own spans carry neither and are
    passed over. Never raises."""

    def __init__(self, skip_scopes: frozenset[str] = frozenset({"llmtel"})) -> None:
        self._skip_scopes = skip_scopes
        self._warned = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        scope = span.instrumentation_scope
        if scope is not None and scope.name in self._skip_scopes:
            return
        try:
            changes = scrubbed_span_attributes(span.attributes or {})
            if changes:
                span.set_attributes(changes)
        except Exception:  # noqa: BLE001 - telemetry hygiene must never break the application
            if not self._warned:
                self._warned = True
                _logger.warning("llmtel: could not scrub a span's attributes of credentials", exc_info=True)


def scrubbed_log_value(key: str, value: Any, clean: Callable[[str], str] = redact_secrets) -> Any:
    """A log attribute's value as shipped: any value under a credential's name (``api_key``, ``password``,
    ``token``…) becomes ``[REDACTED]``; strings pass ``clean``, by default masking the secrets in them
    (``llmtel.logs.redaction`` passes one that masks personal data too), inside lists too; other values as
    ``cleaned_scalar`` leaves them."""
    if isinstance(value, str):
        return REDACTED if is_credential_name(key) else clean(value)
    if could_be_secret(value) and is_credential_name(key):
        return [REDACTED] * len(value) if isinstance(value, list) else REDACTED
    if isinstance(value, list):
        return [clean(v) if isinstance(v, str) else cleaned_scalar(v, clean) for v in value]
    return cleaned_scalar(value, clean)


def could_be_secret(value: Any) -> bool:
    """Whether a value that is not text could still be a credential under a credential's name: anything but
    None, a boolean and a small whole number (``token=42`` is a count; a six-digit PIN is not)."""
    if value is None or isinstance(value, bool):
        return False
    return not (type(value) is int and abs(value) < _SECRET_NUMBER)


_SECRET_NUMBER = 10**5


def cleaned_scalar(value: Any, clean: Callable[[str], str]) -> Any:
    """A value that is neither text nor a container, as it may leave the process: bytes as their text, cleaned;
    a long whole number (a card number written as one) as its cleaned text when cleaning masks it; anything else
    as it is."""
    if isinstance(value, (bytes, bytearray)):
        return clean(bytes(value).decode("utf-8", "replace"))
    if type(value) is int and abs(value) >= _LONG_NUMBER:
        text = str(value)
        cleaned = clean(text)
        return value if cleaned == text else cleaned
    return value


_LONG_NUMBER = 10**8  # shorter whole numbers are counts and ids, never a card or phone number
