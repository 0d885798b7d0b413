"""The docs tell the truth: docs/configuration.md lists exactly the keys the JSON Schemas (and
check plugins) accept, and every command, flag and config key any page names exists."""

from __future__ import annotations

import re
from pathlib import Path

import click

from nerve_py import cli as nerve_cli
from nerve_py import schema as nerve_schema
from nerve_py.checks import CHECKS
from nerve_py.checks.base import COMMON_KEYS
from synapse_py import cli as synapse_cli
from synapse_py import schema as synapse_schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def schema_paths(node, prefix: str = "") -> set[str]:
    """Every key path a schema accepts; `<name>` for map values, `[]` for list items. A watcher
    of `multi` is a discovery section, whose keys are those of `discovery`: not walked again."""
    if not isinstance(node, dict) or node is synapse_schema.CHILD_DISCOVERY_SCHEMA:
        return set()
    found: set[str] = set()
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, []):
            found |= schema_paths(sub, prefix)
    for key in ("if", "then", "else"):
        found |= schema_paths(node.get(key), prefix)
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        found |= {path} | schema_paths(sub, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in extra:
        found |= schema_paths(extra, f"{prefix}.<name>" if prefix else "<name>")
    found |= schema_paths(node.get("items"), prefix + "[]")
    return found


def documented(section: str) -> set[str]:
    text = DOC.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else None]
    return set(re.findall(r"^\| `([^`]+)` \|", body, flags=re.M))


def check_type_paths() -> set[str]:
    keys = set(COMMON_KEYS)
    for cls in CHECKS.values():
        keys |= cls.own_keys
    return {f"services.<name>.checks[].{k}" for k in keys}


def test_nerve_keys_match_schema():
    expected = schema_paths(nerve_schema.CONFIG_SCHEMA) | check_type_paths()
    assert documented("nerve-py") == expected


def test_synapse_keys_match_schema():
    assert documented("synapse-py") == schema_paths(synapse_schema.CONFIG)


# --- every command, flag and config key the docs name exists ---------------------------------

ROOT = DOC.parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "examples" / "systemd" / "README.md",
                *(ROOT / "docs").glob("*.md")])  # fmt: skip
CLIS = {"nerve-py": nerve_cli.main, "synapse-py": synapse_cli.main}
#: a command line starts with the program (after `$ `, `ExecStart=`, VAR=value, a folder)
INVOCATION = re.compile(
    r"^(?:\$ )?(?:ExecStart(?:Pre)?=)?(?:[A-Z_]+=\S+\s+)*(?:\S*/)?"
    r"(nerve-py|synapse-py)(?:\s+(.*))?$"
)
#: what ends the command itself: a pipe, a comment, the shell's next command
END = re.compile(r"\s(?:\||#|;|&&|\|\||>)(?:\s|$)")
#: other programs' flags the docs name, and where they are defined
FOREIGN_FLAGS = {
    "--quick": "benchmarks/run.py",
    "--only": "benchmarks/run.py",
    "--use-dynamic-base-id": "envoy",
    "--disable-hot-restart": "envoy",
    "-Ws": "haproxy",
}
#: keys whose values are keyed by a name (a service, a watcher of multi)
MAPS = ("services", "watchers")
#: the keys of a dns discovery's `servers` entry (synapse_py/discovery/dns_lookup.py reads them)
DNS_ENTRY_KEYS = ("host", "port", "name", "labels")
FILE_SUFFIXES = {"cfg", "json", "yaml", "yml", "md", "py", "sock", "pid", "service", "j2", "log",
                 "toml", "tmp", "candidate", "conf", "jar", "txt", "sh"}  # fmt: skip


def page_text(page: Path) -> tuple[str, list[str]]:
    """The prose (fenced blocks removed) and the lines of the fenced blocks."""
    text = page.read_text()
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    return prose, [line.strip() for block in blocks for line in block.splitlines()]


def spans(prose: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose)


def invocations() -> list[tuple[str, str, list[str]]]:
    """(page, program, arguments) for each command line in an inline span or a code block."""
    found = []
    for page in PAGES:
        prose, lines = page_text(page)
        for text in spans(prose) + lines:
            m = INVOCATION.match(text.strip())
            if m:
                args = END.split(" " + (m.group(2) or ""), maxsplit=1)[0].split()
                found.append((page.name, m.group(1), args))
    return found


def _find_option(cmd: click.Command, name: str) -> click.Parameter | None:
    if name in ("-h", "--help"):
        return click.Option(["--help"], is_flag=True)
    return next((p for p in cmd.params if name in (*p.opts, *p.secondary_opts)), None)


def invocation_problems(prog: str, args: list[str]) -> list[str]:
    """What the command line names that the CLI does not have: a command or an option."""
    cmd: click.Command = CLIS[prog]
    path, problems, i = prog, [], 0
    while i < len(args):
        token = args[i].strip("\"'")
        if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", token):
            name = token.split("=", 1)[0]
            option = _find_option(cmd, name)
            if option is None:
                problems.append(f"{path}: no option {name}")
            elif isinstance(option, click.Option) and not option.is_flag and "=" not in token:
                i += 1  # its value
        elif isinstance(cmd, click.Group):  # a group takes no argument: a word is a command
            if token not in cmd.commands:
                if re.fullmatch(r"[a-z][a-z-]*", token):
                    problems.append(f"{path}: no command {token}")
                break  # a placeholder (FILE, ...): the rest is not checked
            cmd, path = cmd.commands[token], f"{path} {token}"
        i += 1
    return problems


def test_invocations_found():
    """The scan sees the command lines (a regex gone wrong would pass everything)."""
    commands = {(prog, args[0]) for _, prog, args in invocations() if args}
    assert {("nerve-py", "maint"), ("synapse-py", "validate"), ("nerve-py", "-c")} <= commands


def test_every_command_line_in_the_docs_exists():
    problems = [f"{page}: `{prog} {' '.join(args)}`: {p}"
                for page, prog, args in invocations()
                for p in invocation_problems(prog, args)]  # fmt: skip
    assert not problems, "\n".join(problems)


def all_option_names() -> set[str]:
    names = {"-h", "--help"}
    stack: list[click.Command] = list(CLIS.values())
    while stack:
        cmd = stack.pop()
        names |= {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        if isinstance(cmd, click.Group):
            stack.extend(cmd.commands.values())
    return names


def test_every_flag_in_the_docs_exists():
    """A flag in a span (`--config-overlay FILE`) is an option of a command, or another
    program's, named in FOREIGN_FLAGS (a file of this repository is read for it)."""
    ours = all_option_names()
    problems = []
    for page in PAGES:
        for span in spans(page_text(page)[0]):
            m = re.match(r"(--?[A-Za-z][\w-]*)", span)
            if not m or m.group(1) in ours or span.startswith(("-D", "-X")):  # the JVM's
                continue
            where = FOREIGN_FLAGS.get(m.group(1))
            if where is None or ("/" in where and m.group(1) not in (ROOT / where).read_text()):
                problems.append(f"{page.name}: `{span}`")
    assert not problems, "\n".join(problems)


def schema_key_paths() -> list[tuple[str, ...]]:
    """Every key path of both schemas, without the `<name>` and `[]` steps."""
    paths = schema_paths(nerve_schema.CONFIG_SCHEMA) | check_type_paths()
    paths |= schema_paths(synapse_schema.CONFIG)
    discovery = schema_paths(synapse_schema.DISCOVERY_SCHEMA)
    discovery |= {f"watchers.<name>.{p}" for p in discovery}  # each watcher of multi
    discovery |= {f"servers[].{k}" for k in DNS_ENTRY_KEYS}
    paths |= {f"services.<name>.discovery.{p}" for p in discovery}
    return [_key_parts(p) for p in paths]


def test_dns_entry_keys_are_read():
    """A dns `servers` entry is checked in code, not by the schema: the keys it reads."""
    source = (ROOT / "synapse_py" / "discovery" / "dns_lookup.py").read_text()
    assert all(f'"{k}"' in source for k in DNS_ENTRY_KEYS)


def _key_parts(key: str) -> tuple[str, ...]:
    """`services.web.checks[].uri` -> (services, checks, uri): no service name, index or `[]`."""
    parts = key.replace("[]", "").split(".")
    kept = [
        k
        for i, k in enumerate(parts)
        if not (k.isdigit() or k == "<name>" or (i and parts[i - 1] in MAPS))
    ]
    return tuple(kept)


def _contains(path: tuple[str, ...], part: tuple[str, ...]) -> bool:
    n = len(part)
    return any(path[i : i + n] == part for i in range(len(path) - n + 1))


def test_every_dotted_config_key_in_the_docs_exists():
    """`haproxy.stats.auth`, `envoy.output_directory`, `services.<name>.checks[].uri`: each is a
    run of keys some schema path has (per-service `haproxy.port` matches services.web.haproxy)."""
    paths = schema_key_paths()
    first_keys = {k for p in paths for k in p}
    problems = []
    for page in PAGES:
        if page.name == "migration.md":  # Ruby's keys, ours or not: its tables say which
            continue
        for span in spans(page_text(page)[0]):
            if "unknown key" in span:  # an error message quoting a misspelt key on purpose
                continue
            key = span.split(":", 1)[0].split("=", 1)[0].strip()
            if not re.fullmatch(r"[a-z_]+(\[\])?(\.(<name>|[a-z_0-9]+)(\[\])?)+", key):
                continue
            parts = _key_parts(key)
            if parts[0] not in first_keys or parts[-1] in FILE_SUFFIXES:
                continue  # a file name (haproxy.cfg), a module (smartstack_common.atomic)
            if not any(_contains(p, parts) for p in paths):
                problems.append(f"{page.name}: `{span}`")
    assert not problems, "\n".join(problems)


def table_keys(page: Path) -> list[str]:
    """The first-column keys of the page's `| key | default | meaning |` tables."""
    keys, in_table = [], False
    for line in page.read_text().splitlines():
        if line.startswith("| key |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not line.startswith("|---"):
            keys += re.findall(r"`([^`]+)`", line.split("|")[1])
    return keys


def test_every_key_in_the_key_tables_exists():
    """docs/nerve.md, synapse.md and envoy.md: each key a table lists is some schema's key."""
    names = {k for p in schema_key_paths() for k in p}
    problems = [
        f"{page}: {key}"
        for page in ("nerve.md", "synapse.md", "envoy.md")
        for key in table_keys(ROOT / "docs" / page)
        if key.split(".")[-1].replace("[]", "") not in names
    ]
    assert not problems, "\n".join(problems)


def test_every_file_the_docs_and_code_refer_to_exists():
    """A link or a name like `docs/security.md`, `DESIGN.md` or `examples/demo.py` points at a
    file of this repository (taken from the page's folder, the repository root or docs/)."""
    sources = [*PAGES, *(ROOT / "examples" / "systemd").glob("*.service")]
    for package in ("nerve_py", "synapse_py", "smartstack_common"):
        sources += (ROOT / package).rglob("*.py")
    problems = []
    for source in sources:
        text = source.read_text()
        links = re.findall(r"\]\(([^)#\s]+)", text) if source.suffix == ".md" else []
        names = set(links)
        names |= set(re.findall(r"(?<![\w/.-])((?:\.\./)*(?:[\w-]+/)*[\w-]+\.md)\b", text))
        for name in names:
            if "://" in name or name.startswith("mailto:"):
                continue
            here = [source.parent / name, ROOT / name, ROOT / "docs" / name]
            if not any(p.exists() for p in here):
                problems.append(f"{source.relative_to(ROOT)}: {name}")
    assert not problems, "\n".join(sorted(problems))
