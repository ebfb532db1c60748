#!/usr/bin/python3
"""CI gate (reliability scenario 26, docs/guarantees.md#output-side): no SQL built from
data. Lists every call site of sqlite3_exec / sqlite3_prepare* / sqlite3_*printf and of
the storage wrapper (Db::exec, Db::prepare, Store's prep lambda) in parser/, storage/,
daemon/ and alerts/, and classifies the SQL argument:

  literal    string literals only
  constant   literals joined with named constants (kName) or with local variables
             that are themselves built only from literals and constants
  wrapper    the one forwarding site inside the wrapper itself (the SQL comes from
             its callers, which are checked)
  allowed    an explicitly listed exception, with its reason, below
  DATA       anything else: the gate fails

sqlite3_mprintf, sqlite3_vmprintf, sqlite3_snprintf and sqlite3_str_*printf fail
the gate wherever they appear. Report data reaches SQL only through Stmt::bind.

Usage: sql_gate.py [repo root]  (exit 0 clean, 1 violations; --self-test checks the
analyzer flags string-built SQL)
"""
import os
import re
import sys

DIRS = ("parser", "storage", "daemon", "alerts")  # the modules that handle reports (bench/ does not)
FORBIDDEN = {"sqlite3_mprintf", "sqlite3_vmprintf", "sqlite3_snprintf", "sqlite3_vsnprintf", "sqlite3_str_appendf",
             "sqlite3_str_vappendf"}
RAW_APIS = {"sqlite3_exec": 1, "sqlite3_prepare": 1, "sqlite3_prepare_v2": 1, "sqlite3_prepare_v3": 1,
            "sqlite3_prepare16": 1, "sqlite3_prepare16_v2": 1, "sqlite3_prepare16_v3": 1}
WRAPPERS = {  # (file, api, argument text): the wrapper forwarding its own parameter
    ("storage/sqlite.cpp", "sqlite3_exec", "sql"): "Db::exec forwards its const char* parameter",
    ("storage/sqlite.cpp", "sqlite3_prepare_v3", "sql.data()"): "Db::prepare forwards its string_view parameter",
    ("storage/store.cpp", ".prepare", "sql"): "Store::prepare_statements' prep lambda forwards its parameter",
}
ALLOWED = {  # (file, argument text): why it is not data
    ("storage/schema.cpp", "migration_sql(next).c_str()"):
        "the compiled-in migrations (6 assembled from compiled-in fragments only), indexed by the schema version",
    ("storage/schema.cpp", '("PRAGMA user_version=" + std::to_string(next)).c_str()'):
        "an int loop counter (the schema version), not input",
}

TOKEN = re.compile(r'''
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>(?:u8|u|U|L)?R"(?P<delim>[^(\s]{0,16})\((?:.|\n)*?\)(?P=delim)")
  | (?P<str>(?:u8|u|U|L)?"(?:\\.|[^"\\\n])*")
  | (?P<chr>'(?:\\.|[^'\\\n])+')
  | (?P<id>[A-Za-z_]\w*)
  | (?P<num>\d[\w.']*)
  | (?P<op>::|->|[-+*/%&|^!<>=]=?|&&|\|\||[()\[\]{},;.?:~#])
''', re.X | re.S)


def tokenize(text):
    out = []
    pos = 0
    line = 1
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            pos += 1
            continue
        kind = m.lastgroup if m.lastgroup != "delim" else "raw"
        for k in ("raw", "str", "chr", "id", "num", "op", "ws", "comment"):
            if m.group(k) is not None:
                kind = k
                break
        if kind not in ("ws", "comment"):
            out.append((kind, m.group(0), line))
        line += m.group(0).count("\n")
        pos = m.end()
    return out


def split_args(tokens, open_index):
    """Arguments (token lists) of the call whose '(' is at open_index."""
    depth = 0
    args, cur = [], []
    for i in range(open_index, len(tokens)):
        kind, text, _ = tokens[i]
        if text in ("(", "[", "{"):
            depth += 1
            if depth == 1:
                continue
        elif text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                args.append(cur)
                return args
        elif text == "," and depth == 1:
            args.append(cur)
            cur = []
            continue
        cur.append(tokens[i])
    return args


def expr_text(toks):
    s = ""
    for kind, text, _ in toks:
        if s and (kind in ("id", "num", "str", "raw") and s[-1].isalnum() or text == "+" or s.endswith("+")):
            s += " "
        s += text
    return s


class Analyzer:
    def __init__(self, root):
        self.root = root
        self.files = {}
        for d in DIRS:
            for dirpath, _, names in os.walk(os.path.join(root, d)):
                for n in names:
                    if n.endswith((".cpp", ".hpp", ".h", ".cc")):
                        p = os.path.join(dirpath, n)
                        with open(p, encoding="utf-8", errors="replace") as f:
                            self.files[os.path.relpath(p, root)] = tokenize(f.read())

    def definition(self, name, rel, before_line=None):
        """The initializer tokens of `name` (a constant anywhere, or a local in `rel`)."""
        search = [rel] + [f for f in self.files if f != rel] if name.startswith("k") else [rel]
        for f in search:
            toks = self.files[f]
            for i, (kind, text, line) in enumerate(toks):
                if kind != "id" or text != name or i + 1 >= len(toks):
                    continue
                if before_line and f == rel and line > before_line and not name.startswith("k"):
                    continue
                j = i + 1
                if toks[j][1] == "[":  # kName[] = {...}
                    while j < len(toks) and toks[j][1] != "]":
                        j += 1
                    j += 1
                if j < len(toks) and toks[j][1] == "=" and i > 0 and toks[i - 1][1] not in (".", "->", "::", "(", ","):
                    init = []
                    depth = 0
                    for k in range(j + 1, len(toks)):
                        t = toks[k][1]
                        if t in ("(", "[", "{"):
                            depth += 1
                        elif t in (")", "]", "}"):
                            depth -= 1
                        if depth == 0 and t == ";":
                            return init
                        init.append(toks[k])
        return None

    def pure(self, toks, rel, line, seen=()):
        """True when toks build a string only from literals and constants."""
        i = 0
        while i < len(toks):
            kind, text, _ = toks[i]
            if kind in ("str", "raw"):
                pass
            elif text in ("+", "(", ")", "{", "}", ",", "::", ".", "const"):
                pass
            elif kind == "id" and text in ("std", "string", "string_view", "c_str", "data"):
                pass
            elif kind == "id":
                if text in seen:
                    return False
                init = self.definition(text, rel, line)
                if init is None or not self.pure(init, rel, line, seen + (text,)):
                    return False
            else:
                return False
            i += 1
        return True

    def sites(self):
        for rel, toks in sorted(self.files.items()):
            for i, (kind, text, line) in enumerate(toks):
                if kind != "id" or i + 1 >= len(toks) or toks[i + 1][1] != "(":
                    continue
                api = None
                arg_index = 0
                if text in FORBIDDEN:
                    yield rel, line, text, None, "FORBIDDEN"
                    continue
                if text in RAW_APIS:
                    api, arg_index = text, RAW_APIS[text]
                elif text in ("exec", "prepare") and i > 0 and toks[i - 1][1] in (".", "->"):
                    api = "." + text
                elif text == "prep" and i > 0 and toks[i - 1][1] not in (".", "->", "::"):
                    api = "prep"
                    arg_index = 1
                if not api:
                    continue
                if i > 1 and toks[i - 2][1] in ("Db", "Stmt") and toks[i - 1][1] == "::":
                    continue  # the definition, not a call
                args = split_args(toks, i + 1)
                if len(args) <= arg_index:
                    continue
                arg = args[arg_index]
                yield rel, line, api, arg, self.classify(rel, line, api, arg)

    def classify(self, rel, line, api, arg):
        text = re.sub(r"\s+", "", expr_text(arg))
        if any((rel, api, re.sub(r"\s+", "", t)) == k for k in WRAPPERS for t in [k[2]]):
            return "wrapper"
        if any((rel, re.sub(r"\s+", "", k[1])) == (rel, text) and k[0] == rel for k in ALLOWED):
            return "allowed"
        if all(k in ("str", "raw") for k, _, _ in arg):
            return "literal"
        if self.pure(arg, rel, line):
            return "constant"
        return "DATA"


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        os.makedirs(os.path.join(t, "storage"))
        with open(os.path.join(t, "storage", "bad.cpp"), "w") as f:
            f.write('void f(Db& db, const std::string& name) {\n'
                    '  const std::string kOk = "SELECT 1";\n'
                    '  auto a = db.prepare("SELECT * FROM t WHERE x = \'" + name + "\'");\n'
                    '  auto b = db.prepare(std::string("SELECT ") + kOk);\n'
                    '  db.exec(name.c_str());\n'
                    '  char* s = sqlite3_mprintf("%q", name.c_str());\n'
                    '  sqlite3_exec(h, "BEGIN", nullptr, nullptr, nullptr);\n}\n')
        got = [c for *_, c in Analyzer(t).sites()]
    want = ["DATA", "constant", "DATA", "FORBIDDEN", "literal"]
    return got == want, got


def main(argv):
    if "--self-test" in argv:
        ok, got = self_test()
        print(f"sql_gate self-test: {'ok' if ok else 'FAILED'} {got}")
        return 0 if ok else 1
    root = next((a for a in argv[1:] if not a.startswith("-")),
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    counts = {}
    bad = []
    for rel, line, api, arg, cls in Analyzer(root).sites():
        counts[cls] = counts.get(cls, 0) + 1
        shown = expr_text(arg)[:100] if arg else ""
        print(f"{cls:9} {rel}:{line} {api}({shown})")
        if cls in ("DATA", "FORBIDDEN"):
            bad.append(f"{rel}:{line}")
    print(f"sql_gate: {sum(counts.values())} call sites {counts}; violations: {bad or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
