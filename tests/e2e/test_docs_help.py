#!/usr/bin/python3
"""What the binaries say and what the docs say cannot drift apart.

- For every command of both binaries (and their global options), the long
  options of its help, of its getopt table in the source and of its table
  in docs/cli.md are the same set; docs/cli.md has a section for each
  command and no other.
- The options a command's usage line shows outside brackets are the ones
  its help marks "(required)".
- Every refusal code the verifier's libraries can send appears in
  docs/protocol.md's "Error codes" table, and every code there exists in
  the source.
- The man pages (docs/man) of both binaries have a COMMANDS subsection per
  command and no other, each with exactly the options of its help, as
  docs/cli.md; the provider's names every openssl.cnf parameter and
  environment variable the provider reads; groff renders each page without
  a warning.

Then the same comparisons run on copies with one option or one code added
or removed on one side, and must fail: a check that cannot fail proves
nothing. Fast, no TPM.

Usage: test_docs_help.py SOURCE_DIR BUILD_DIR
"""
import glob
import os
import re
import subprocess
import sys

SRC, BUILD = sys.argv[1], sys.argv[2]
PROGRAMS = {
    # program: (binary, folder of its command table main.c and commands)
    "rattest-verifier": ("bin/rattest-verifier", "verifier/cli"),
    "rattest-bootstrap": ("bin/rattest-bootstrap", "bootstrap"),
    "rattest-loadgen": ("bin/rattest-loadgen", "loadgen"),
}
# Programs without commands: their options are the "global" ones, from the
# getopt tables in their folder, and their usage line marks required ones.
SINGLE = {"rattest-loadgen"}
GLOBAL = "-"  # the "command" of a program's global options
MAN_PAGES = {"rattest-verifier": "docs/man/rattest-verifier.8",
             "rattest-bootstrap": "docs/man/rattest-bootstrap.8"}
PROVIDER_PAGE = "docs/man/rattest-provider.7"

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}", file=sys.stderr)


def read(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


def run_help(prog, cmd):
    args = ["--help"] if cmd == GLOBAL else ["help", cmd]
    binary = os.path.join(BUILD, PROGRAMS[prog][0])
    return subprocess.run([binary] + args, check=True, capture_output=True, text=True).stdout


def commands(program_help):
    """The commands of a program's help's command list (not help, version)."""
    block = re.search(r"^Commands:\n(.*?)\n\n", program_help, re.S | re.M)
    if block is None:
        return []
    block = block.group(1)
    names = re.findall(r"^  ([a-z][a-z-]*)", block, re.M)
    return sorted(n for n in names if n not in ("help", "version"))


OPTION_LINE = re.compile(r"^ {2,4}(?:-[A-Za-z], )?(--[a-z0-9-]+)", re.M)


def help_options(text):
    """Long options of the help's option lines (2-4 spaces, then -x, or --x);
    not --help, which every command has (checked apart)."""
    return set(OPTION_LINE.findall(text)) - {"--help"}


GETOPT = re.compile(r'\{"([a-z0-9-]+)", (?:no|required|optional)_argument')


def source_options(prog, cmd):
    """Long options of the command's getopt table: the command table
    (main.c) names the function that runs the command; its option table is
    in that function, or else in the file defining it. The global options
    are rt_cli_globals'."""
    if cmd == GLOBAL and prog in SINGLE:
        body = "".join(read(os.path.relpath(p, SRC)) for p in
                       sorted(glob.glob(os.path.join(SRC, PROGRAMS[prog][1], "*.c"))))
    elif cmd == GLOBAL:
        text = read("common/base/rt_cli.c")
        body = text[text.index("int rt_cli_globals(") :]
        body = body[: body.index("NULL, 0, NULL, 0")]
    else:
        folder = PROGRAMS[prog][1]
        # The command table's entry, not a getopt entry of the same name
        # (enroll's --renew beside the renew command).
        entry = r'\{"%s", (?!(?:no|required|optional)_argument)([a-z_]+)' % re.escape(cmd)
        fn = re.search(entry, read(f"{folder}/main.c")).group(1)
        define = re.compile(r"^(?:static )?int %s\(.*?^}" % fn, re.S | re.M)
        for path in sorted(glob.glob(os.path.join(SRC, folder, "*.c"))):
            text = read(path)
            m = define.search(text)
            if m:
                body = m.group(0) if "struct option" in m.group(0) else text
                break
        else:
            raise SystemExit(f"{prog} {cmd}: no definition of {fn} in {folder}")
    return {"--" + o for o in GETOPT.findall(body)} - {"--help"}


def doc_options(doc):
    """From docs/cli.md: {program: [commands with a section]} and
    {(program, command): options in the first column of its tables}.
    "## PROGRAM", then "### COMMAND"; the global options come before the
    first "###"."""
    cmds, opts = {}, {}
    prog = cmd = None
    for line in doc.splitlines():
        if line.startswith("## "):
            prog, cmd = line.split()[1], GLOBAL
            cmds.setdefault(prog, [])
        elif line.startswith("### ") and prog:
            cmd = line.split()[1]
            cmds[prog].append(cmd)
        elif prog and re.match(r"^\| *`-", line):
            cell = line.split("|")[1]
            opts.setdefault((prog, cmd), set()).update(re.findall(r"--[a-z0-9-]+", cell))
    return cmds, {k: v - {"--help"} for k, v in opts.items()}


def differ(what, a, b, a_name, b_name):
    """'' when the sets are equal, else what differs."""
    a, b = set(a), set(b)
    if a == b:
        return ""
    only_a = " ".join(sorted(a - b))
    only_b = " ".join(sorted(b - a))
    return f"{what}: only in {a_name}: [{only_a}], only in {b_name}: [{only_b}]\n"


def check_source(helps, sources):
    """Every help lists --help and exactly its getopt table's options."""
    out = ""
    for (prog, cmd), text in helps.items():
        if not re.search(r"^ {2,4}(-h, )?--help", text, re.M):
            out += f"{prog} {cmd}: its help does not list --help\n"
        out += differ(f"{prog} {cmd}", help_options(text), sources[prog, cmd], "--help", "source")
    return out


def check_doc(helps, program_cmds, doc):
    """docs/cli.md has a section per command and no other, and each lists
    exactly the options of the command's help."""
    cmds, opts = doc_options(doc)
    out = ""
    for prog, names in program_cmds.items():
        out += differ(f"{prog} commands", names, cmds.get(prog, []), "--help", "docs/cli.md")
    for (prog, cmd), text in helps.items():
        out += differ(f"{prog} {cmd}", help_options(text), opts.get((prog, cmd), set()),
                      "--help", "docs/cli.md")
    return out


def man_options(page):
    """From a man page: {program: [commands]} and {(program, command):
    options}, like doc_options: the options are the tags (the line after
    .TP) of ".SH OPTIONS" (the global ones) and of each ".SS COMMAND" of
    ".SH COMMANDS"."""
    cmds, opts = [], {}
    section = cmd = None
    lines = [l.replace("\\-", "-") for l in page.splitlines() if not l.startswith('.\\"')]
    for i, line in enumerate(lines):
        if line.startswith(".SH "):
            section = line[4:].strip().strip('"')
            cmd = GLOBAL if section == "OPTIONS" else None
        elif line.startswith(".SS ") and section == "COMMANDS":
            cmd = line.split()[1]
            cmds.append(cmd)
        elif line == ".TP" and cmd is not None and i + 1 < len(lines):
            opts.setdefault(cmd, set()).update(re.findall(r"--[a-z0-9-]+", lines[i + 1]))
    return cmds, {k: v - {"--help"} for k, v in opts.items()}


def check_man(helps, program_cmds, pages):
    """Each program's man page has a subsection per command and no other,
    and each lists exactly the options of the command's help."""
    out = ""
    for prog, page in pages.items():
        cmds, opts = man_options(page)
        out += differ(f"{prog} commands", program_cmds[prog], cmds, "--help", MAN_PAGES[prog])
        for (p, cmd), text in helps.items():
            if p == prog:
                out += differ(f"{prog} {cmd}", help_options(text), opts.get(cmd, set()),
                              "--help", MAN_PAGES[prog])
    return out


def provider_names():
    """What the provider reads: its openssl.cnf parameters
    (read_core_param) and environment variables (the RT_*_ENV names of
    provider/ and common/tpm, the TPM code it links)."""
    params = re.findall(r'read_core_param\(handle, get_params, "([a-z_]+)"',
                        read("provider/provctx.c"))
    env = re.findall(r'^#define RT_[A-Z_]+_ENV "([A-Z_]+)"',
                     read("provider/provider.h") + read("common/tpm/rt_tpm.h"), re.M)
    return set(params), set(env)


def check_provider_page(page, params, env):
    """The provider page names each parameter (a .B line of the
    CONFIGURATION section's list and the .cnf sample) and each variable
    (a .B tag of ENVIRONMENT)."""
    conf = re.search(r"^\.SH CONFIGURATION\n(.*?)(?=^\.SH )", page, re.S | re.M)
    envs = re.search(r"^\.SH ENVIRONMENT\n(.*?)(?=^\.SH )", page, re.S | re.M)
    conf, envs = (m.group(1) if m else "" for m in (conf, envs))
    tags = set(re.findall(r"^\.TP\n\.B (\S+)$", conf + envs, re.M))
    out = ""
    for name in sorted(params):
        if name not in tags or not re.search(rf"^{name} = ", conf, re.M):
            out += f"{PROVIDER_PAGE}: parameter {name} not in CONFIGURATION\n"
    for name in sorted(env):
        if not re.search(rf"^\.TP\n\.B {name}$", envs, re.M):
            out += f"{PROVIDER_PAGE}: {name} not in ENVIRONMENT\n"
    return out


def groff_warnings(path, text=None):
    """What groff says rendering the page with every warning on ('' when
    nothing)."""
    run = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"] + ([] if text else [path]),
                         input=text, capture_output=True, text=True)
    return run.stderr + ("" if run.returncode == 0 else f"groff exit {run.returncode}\n")


def check_required(helps):
    """Options outside brackets on the usage line = options marked (required)."""
    out = ""
    for (prog, cmd), text in helps.items():
        if cmd == GLOBAL and prog not in SINGLE:
            continue
        usage = re.search(r"^Usage:.*?(?=\n\n|\Z)", text, re.S | re.M).group(0)
        shown = set(re.findall(r"--[a-z0-9-]+", re.sub(r"\[[^]]*\]", "", usage)))
        marked = set(re.findall(r"^ {2,4}(--[a-z0-9-]+) .*\(required\)", text, re.M))
        out += differ(f"{prog} {cmd} required", shown, marked, "usage line", "(required)")
    return out


def source_codes():
    """The refusal codes the verifier's libraries can send: the upper-case
    string literals (comments removed) of verifier/{service,session,policy,
    trust,issuance}: rt_deny's argument, or a table or function that
    supplies one (evidence_check.c, token_reason.c, policy_judge.c,
    platform_cert.c). The only other upper-case literals there are
    algorithm names for EVP."""
    codes = set()
    for lib in ("service", "session", "policy", "trust", "issuance"):
        for path in glob.glob(os.path.join(SRC, "verifier", lib, "*.c")):
            text = re.sub(r"/\*.*?\*/|//[^\n]*", "", read(path), flags=re.S)
            codes.update(re.findall(r'"([A-Z][A-Z0-9_]+)"', text))
    return codes - {"EC", "RSA"}


def doc_codes(doc):
    """The codes in the first column of the "## Error codes" table."""
    section = re.search(r"^## Error codes\n(.*?)(?=^## |\Z)", doc, re.S | re.M).group(1)
    codes = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            codes.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return codes


def main():
    program_cmds, helps, sources = {}, {}, {}
    for prog in PROGRAMS:
        top = run_help(prog, GLOBAL)
        program_cmds[prog] = commands(top)
        for cmd in [GLOBAL] + program_cmds[prog]:
            helps[prog, cmd] = top if cmd == GLOBAL else run_help(prog, cmd)
            sources[prog, cmd] = source_options(prog, cmd)
    check(len(helps) >= 13 and all(sources[k] for k in helps if k[1] == "serve"),
          f"too little found: {sorted(helps)}")
    cli, protocol = read("docs/cli.md"), read("docs/protocol.md")
    codes = source_codes()
    check(len(codes) > 40 and len(doc_codes(protocol)) > 40, "too few refusal codes found")

    for what, out in [
        ("help and getopt tables", check_source(helps, sources)),
        ("help and docs/cli.md", check_doc(helps, program_cmds, cli)),
        ("required options", check_required(helps)),
        ("refusal codes", differ("codes", codes, doc_codes(protocol), "source", "docs/protocol.md")),
    ]:
        check(out == "", f"{what} disagree:\n{out}")

    # The checks fail when one side gains or loses an option or a code.
    row = "| `--listen HOST:PORT` |"
    check(row in cli, f"docs/cli.md has no row starting {row}")
    extra = cli.replace(row, "| `--listen-backlog N` | (not an option) |\n" + row, 1)
    check("only in docs/cli.md: [--listen-backlog]" in check_doc(helps, program_cmds, extra),
          "an option only in the doc passed")
    less = "\n".join(l for l in cli.splitlines() if not l.startswith("| `--json` |"))
    check("rattest-bootstrap status: only in --help: [--json]" in
          check_doc(helps, program_cmds, less), "an option missing from the doc passed")
    new_cmd = cli + "\n### frobnicate\n"
    check("only in docs/cli.md: [frobnicate]" in check_doc(helps, program_cmds, new_cmd),
          "a command only in the doc passed")
    short = dict(helps)
    key = ("rattest-bootstrap", "status")
    short[key] = "\n".join(l for l in helps[key].splitlines() if not l.startswith("  --json"))
    check("only in source: [--json]" in check_source(short, sources),
          "an option missing from --help passed")
    single = dict(helps)
    key = ("rattest-loadgen", GLOBAL)
    single[key] = "\n".join(l for l in helps[key].splitlines() if not l.startswith("  --json"))
    check("only in source: [--json]" in check_source(single, sources),
          "an option missing from a program without commands passed")
    unmarked = dict(helps)
    key = ("rattest-verifier", "serve")
    unmarked[key] = helps[key].replace("PEM (required)", "PEM", 1)
    check("only in usage line" in check_required(unmarked), "an unmarked required option passed")
    check("only in docs/protocol.md: [NOT_A_CODE]" in
          differ("codes", codes, doc_codes(protocol.replace(
              "| `PING_TOO_LONG` |", "| `NOT_A_CODE` | INTERNAL | x |\n| `PING_TOO_LONG` |", 1)),
              "source", "docs/protocol.md"), "a code only in the doc passed")
    less_codes = "\n".join(l for l in protocol.splitlines() if "`PING_TOO_LONG`" not in l)
    check("only in source: [PING_TOO_LONG]" in
          differ("codes", codes, doc_codes(less_codes), "source", "docs/protocol.md"),
          "a code missing from the doc passed")

    # The man pages: same options as --help, the provider's names, no
    # groff warning; and each check fails on a page that drifted.
    pages = {prog: read(path) for prog, path in MAN_PAGES.items()}
    params, env = provider_names()
    provider = read(PROVIDER_PAGE)
    check(params == {"tcti", "state_dir"} and {"RATTEST_TCTI", "RATTEST_STATE_DIR"} <= env,
          f"provider names not found: {params} {env}")
    for what, out in [
        ("help and the man pages", check_man(helps, program_cmds, pages)),
        ("the provider and its man page", check_provider_page(provider, params, env)),
    ] + [(f"groff on {p}", groff_warnings(os.path.join(SRC, p)))
         for p in list(MAN_PAGES.values()) + [PROVIDER_PAGE]]:
        check(out == "", f"{what}:\n{out}")
    page = pages["rattest-bootstrap"]
    tag = ".TP\n.B \\-\\-json\n"
    check(tag in page, f"{MAN_PAGES['rattest-bootstrap']} has no tag {tag!r}")
    less = dict(pages, **{"rattest-bootstrap": page.replace(tag, ".TP\n.B (none)\n", 1)})
    check("rattest-bootstrap status: only in --help: [--json]" in
          check_man(helps, program_cmds, less), "an option missing from a man page passed")
    extra = dict(pages, **{"rattest-bootstrap": page.replace(tag, ".TP\n.B \\-\\-jsonl\n", 1)})
    check("only in docs/man/rattest-bootstrap.8: [--jsonl]" in
          check_man(helps, program_cmds, extra), "an option only in a man page passed")
    extra_cmd = dict(pages, **{"rattest-verifier": pages["rattest-verifier"].replace(
        ".SH SIGNALS", ".SS frobnicate\n.SH SIGNALS", 1)})
    check("only in docs/man/rattest-verifier.8: [frobnicate]" in
          check_man(helps, program_cmds, extra_cmd), "a command only in a man page passed")
    check("RATTEST_TCTI not in ENVIRONMENT" in check_provider_page(
        provider.replace(".B RATTEST_TCTI\n", ".B TCTI\n", 1), params, env),
        "a variable missing from the provider page passed")
    check("parameter state_dir not in" in check_provider_page(
        provider.replace("state_dir = ", "statedir = ", 1), params, env),
        "a parameter missing from the provider's .cnf sample passed")
    check("macro 'XX' not defined" in groff_warnings(None, provider + ".XX\n"),
          "a page groff warns about passed")

    print(f"test_docs_help.py: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
