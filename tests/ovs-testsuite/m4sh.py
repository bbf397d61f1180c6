"""The m4/autotest and sh layers of OVS's test scripts, as far as the converter reads them.

`blocks` splits an `.at` file into AT_SETUP blocks of macro calls and shell lines, with m4's
quoting undone the way autotest expands it; `run_sh` interprets the small sh subset OVS's
tests use to generate flow files (for loops over `seq`, `expr`, assignments, echo). Nothing
here executes test code: anything outside the subset raises `Skip`.
"""

import re
import shlex


def unquote(text):
    """Removes one level of m4 [ ] quoting and handles `dnl` outside quotes."""
    out = []
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "[":
            if depth > 0:
                out.append(c)
            depth += 1
        elif c == "]":
            depth -= 1
            if depth > 0:
                out.append(c)
        elif depth == 0 and text.startswith("dnl", i) and (i + 3 == n or not text[i + 3].isalnum()):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def split_args(text, start):
    """Parses `(arg, arg, ...)` at text[start] == '('; returns (raw args, index after ')')."""
    assert text[start] == "("
    args = []
    cur = []
    depth_q = 0
    depth_p = 0
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "[":
            depth_q += 1
        elif c == "]":
            depth_q -= 1
        elif depth_q == 0 and c == "(":
            depth_p += 1
        elif depth_q == 0 and c == ")":
            if depth_p == 0:
                args.append("".join(cur))
                return [a.lstrip() for a in args], i + 1
            depth_p -= 1
        elif depth_q == 0 and depth_p == 0 and c == ",":
            args.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    raise ValueError("unbalanced macro call")


def arg_text(raw):
    """An argument as the macro sees it after expansion: two levels of quoting removed."""
    return unquote(unquote(raw))


MACRO = re.compile(r"\b(AT_SETUP|AT_CLEANUP|AT_CHECK|AT_DATA|AT_CHECK_UNQUOTED|OVS_VSWITCHD_START|"
                   r"OVS_VSWITCHD_STOP|OVS_TRAFFIC_VSWITCHD_STOP|m4_define|AT_KEYWORDS|AT_SKIP_IF|"
                   r"OVS_WAIT_UNTIL|OVS_WAIT_UNTIL_EQUAL|AT_BANNER|AT_CAPTURE_FILE|"
                   r"AT_FAIL_IF|m4_foreach|OVS_WAIT_WHILE)\b")


def blocks(text):
    """Yields (title, line, items) per top-level AT_SETUP; items are ('macro', name, [args])
    or ('shell', line). Blocks defined inside m4_define bodies are templates, not tests."""
    i = 0
    cur = None
    line_of = lambda pos: text.count("\n", 0, pos) + 1
    while i < len(text):
        m = MACRO.search(text, i)
        end = m.start() if m else len(text)
        if cur is not None:
            for ln in text[i:end].split("\n"):
                s = unquote(ln).strip()
                if s and not s.startswith("#"):
                    cur[2].append(("shell", s))
        if not m:
            break
        name = m.group(1)
        j = m.end()
        if "#" in text[text.rfind("\n", 0, m.start()) + 1 : m.start()]:
            # An m4 comment: passed through unexpanded.
            i = j
            continue
        args = []
        if j < len(text) and text[j] == "(":
            args, j = split_args(text, j)
        if name == "m4_define":
            i = j
            continue
        if name == "AT_SETUP":
            cur = (arg_text(args[0]), line_of(m.start()), [])
        elif name == "AT_CLEANUP":
            if cur is not None:
                yield cur
            cur = None
        elif cur is not None:
            cur[2].append(("macro", name, args))
        i = j



class Skip(Exception):
    pass


def expand_vars(s, env):
    def rep(m):
        name = m.group(1) or m.group(2)
        if name not in env:
            raise Skip("shell variable $%s not statically known" % name)
        return env[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", rep, s)


ASSIGN = re.compile(r"^(\w+)=(\"[^\"]*\"|'[^']*'|[^\s;`$]*)$")


def sh_expand(text, env):
    """Expands $v, ${v} and $((v+N)) / $((v-N)) as sh does inside double quotes."""
    def arith(m):
        e = m.group(1).replace("$", "")
        mm = re.match(r"^\s*(\w+)\s*([-+])\s*(\d+)\s*$", e)
        if not mm:
            raise Skip("shell arithmetic %s" % e)
        v = int(env[mm.group(1)]) if not mm.group(1).isdigit() else int(mm.group(1))
        return str(v + int(mm.group(3)) if mm.group(2) == "+" else v - int(mm.group(3)))
    text = re.sub(r"\$\(\((.*?)\)\)", arith, text)
    return expand_vars(text, env)


def run_sh(prog, env):
    """Runs a flow-file generator written in the small sh subset OVS's tests use (for loops
    over `seq`, `expr` arithmetic, assignments, echo) and returns what it prints. Anything
    else raises Skip: the converter interprets, it never executes test code."""
    stmts = []
    for line in prog.split("\n"):
        stmts += [x.strip() for x in shlex_split_semicolons(line) if x.strip()]
    out = []

    def parse(i, end_word):
        body = []
        while i < len(stmts):
            st = stmts[i]
            if st.startswith("do "):
                st = st[3:].strip()
            if st == end_word:
                return body, i + 1
            m = re.match(r"^for (\w+) in `seq (\d+) (\d+)`$", st)
            if m:
                j = i + 1
                if j < len(stmts) and stmts[j] == "do":
                    j += 1
                elif j < len(stmts) and stmts[j].startswith("do "):
                    pass
                inner, i = parse(j, "done")
                body.append(("for", m.group(1), int(m.group(2)), int(m.group(3)), inner))
                continue
            m = re.match(r"^(\w+)=`expr \$(\w+) ([-+]) (\d+)`$", st)
            if m:
                body.append(("expr", m.group(1), m.group(2), m.group(3), int(m.group(4))))
            elif re.match(r"^\w+=", st):
                k, _, v = st.partition("=")
                body.append(("set", k, v))
            elif st.startswith("echo "):
                body.append(("echo", st[5:]))
            else:
                raise Skip("shell generator statement %r" % st[:40])
            i += 1
        if end_word:
            raise Skip("shell generator without %s" % end_word)
        return body, i

    def run(body, env):
        for op in body:
            if op[0] == "for":
                for v in range(op[2], op[3] + 1):
                    env[op[1]] = str(v)
                    run(op[4], env)
            elif op[0] == "expr":
                x = int(env[op[2]])
                env[op[1]] = str(x + op[4] if op[3] == "+" else x - op[4])
            elif op[0] == "set":
                env[op[1]] = unquote_sh(op[2], env)
            else:
                out.append(unquote_sh(op[1], env))

    body, _ = parse(0, None)
    run(body, dict(env))
    return "".join(o + "\n" for o in out)


def unquote_sh(word, env):
    if word.startswith("'") and word.endswith("'"):
        return word[1:-1]
    if word.startswith('"') and word.endswith('"'):
        word = word[1:-1]
    elif any(c in word for c in " \t\"'"):
        raise Skip("shell word %r" % word[:40])
    return sh_expand(word, env)


def shlex_split_semicolons(line):
    """Splits a shell line at `;` outside quotes."""
    parts, cur, q = [], [], None
    for c in line:
        if q:
            q = None if c == q else q
        elif c in "\"'":
            q = c
        elif c == ";":
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(c)
    parts.append("".join(cur))
    return parts


def shell_words(cmd):
    """A simple command's words, or None for pipelines, redirections, substitutions."""
    try:
        lex = shlex.shlex(cmd, posix=True, punctuation_chars=";&|<>")
        lex.whitespace_split = True
        words = list(lex)
    except ValueError:
        return None
    if any(w and all(c in ";&|<>" for c in w) for w in words) or "`" in cmd:
        return None
    return words
