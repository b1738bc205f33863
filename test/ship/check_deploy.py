#!/usr/bin/env python3
"""Static checks of the deployment examples in examples/deploy (nothing is built or run).

    test/ship/check_deploy.py [--repo DIR] [--package-dir DIR] [--sluice BINARY]

Kubernetes (every YAML document under examples/deploy): a Deployment, a ConfigMap and a Service
are there; probes reach the admin listener the args give sluice (/ready, /healthz); every
ConfigMap reference and key exists; every $(VAR) in the args is a defined variable; the Service
selects the pods and targets a port sluice listens on; the stop and security settings hold.
Dockerfile: at least two stages, all on debian:bookworm(-slim); a non-root USER in the last one;
every COPY/ADD from the context names a file that is in the repo and not in the .dockerignore;
every COPY --from=<stage> maps back to a repo path, or with --package-dir to what `make package`
wrote; ENTRYPOINT/CMD in exec form; hadolint's errors, when hadolint is on PATH.
With --sluice, every --flag used must be in `BINARY --help`.

Prints `check_deploy: ok` and exits 0, or one line per problem and exits 1.
Needs python3 and python3-yaml only.
"""

import argparse
import glob
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys

import yaml

DEPLOY_DIR = "examples/deploy"
# Where `make package` writes sluice_<version>_<arch>.deb, relative to the repo root.
PACKAGE_SUBDIR = "build/package"
# What the package installs and the image runs.
PACKAGE_BINARY = "/usr/bin/sluice"
ALLOWED_BASES = ("debian:bookworm", "debian:bookworm-slim")
# sluice gives in-flight responses this long after SIGTERM (fixed in app/main.cpp).
DRAIN_SECONDS = 5
LOOPBACK_HOSTS = ("localhost", "::1")

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def note(message):
    print(f"check_deploy: note: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# sluice's flags

def sluice_flags(binary):
    """The --flags that `BINARY --help` lists, or None when it cannot be run."""
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        problem(binary, f"cannot run --help: {e}")
        return None
    if out.returncode != 0:
        problem(binary, f"--help exited with {out.returncode}")
        return None
    # Option lines are indented a little ("  -h,--help", "  --listen HOST:PORT"); descriptions
    # are indented much more.
    flags = set()
    for line in out.stdout.splitlines():
        m = re.match(r"^ {1,4}(?:-\w,)?(--[A-Za-z0-9][\w-]*)", line)
        if m:
            flags.add(m.group(1))
    if not flags:
        problem(binary, "--help lists no --flag")
        return None
    return flags


def flag_values(argv):
    """(flag, value or None) for each --flag in argv, `--f=v` or `--f v`."""
    out = []
    for i, tok in enumerate(argv):
        if not isinstance(tok, str) or not tok.startswith("--"):
            continue
        if "=" in tok:
            name, value = tok.split("=", 1)
        else:
            name = tok
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            value = nxt if isinstance(nxt, str) and not nxt.startswith("-") else None
        out.append((name, value))
    return out


def check_flags(where, argv, known):
    for name, _ in flag_values(argv):
        if known is not None and name not in known:
            problem(where, f"{name} is not a flag of sluice (see sluice --help)")


def split_host_port(value):
    """HOST:PORT or [v6]:PORT -> (host, port int) or None."""
    m = re.fullmatch(r"\[([^\]]*)\]:(\d+)|([^:\[\]]*):(\d+)", value or "")
    if not m:
        return None
    host = m.group(1) if m.group(1) is not None else m.group(3)
    return host, int(m.group(2) or m.group(4))


def is_loopback(host):
    return host in LOOPBACK_HOSTS or host.startswith("127.")


# ---------------------------------------------------------------------------------------------
# Dockerfile

class Instruction:
    def __init__(self, line, keyword, rest, heredocs):
        self.line, self.keyword, self.rest, self.heredocs = line, keyword, rest, heredocs


def parse_dockerfile(text):
    """Instructions with `\\` continuations joined and comment lines dropped (also inside a
    continuation, as Docker does); heredoc bodies (<<EOF) are kept apart."""
    lines = text.splitlines()
    escape = "\\"
    # Parser directives: `# name=value` lines at the very top.
    for line in lines:
        m = re.fullmatch(r"#\s*(\w+)\s*=\s*(\S+)\s*", line)
        if not m:
            break
        if m.group(1).lower() == "escape":
            escape = m.group(2)
    out = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        start = i
        parts = []
        cur = raw
        while True:
            stripped = cur.rstrip()
            if stripped.endswith(escape):
                parts.append(stripped[: -len(escape)])
                # The next line that is neither a comment nor empty continues it.
                while i < len(lines) and (not lines[i].strip()
                                          or lines[i].lstrip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                cur = lines[i]
                i += 1
            else:
                parts.append(cur)
                break
        joined = " ".join(p.strip() for p in parts).strip()
        keyword, _, rest = joined.partition(" ")
        keyword = keyword.upper()
        heredocs = []
        if keyword in ("RUN", "COPY", "ADD"):
            for m in re.finditer(r"<<(-?)([\"']?)([A-Za-z_]\w*)\2", rest):
                body = []
                while i < len(lines):
                    line = lines[i]
                    i += 1
                    if (line.strip() if m.group(1) else line) == m.group(3):
                        break
                    body.append(line)
                heredocs.append((m.group(3), body))
        out.append(Instruction(start, keyword, rest.strip(), heredocs))
    return out


def exec_form(rest):
    """The JSON (exec) form's list, or None for the shell form."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return None


def dockerignore_rules(path):
    rules = []
    if not os.path.isfile(path):
        return rules
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            pattern = posixpath.normpath(line).lstrip("/")
            rules.append((negate, re.compile(ignore_regex(pattern))))
    return rules


def ignore_regex(pattern):
    """A .dockerignore pattern (Go filepath.Match plus `**`) as an anchored regex."""
    out, i = "^", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                cls = pattern[i + 1:j]
                out += "[" + ("^" + cls[1:] if cls.startswith("^") else cls) + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return out + "$"


def ignored(rules, rel):
    """Whether the context path rel (or a directory above it) is excluded; last rule wins."""
    rel = posixpath.normpath(rel)
    if rel == ".":
        return False
    candidates = [rel]
    parent = posixpath.dirname(rel)
    while parent:
        candidates.append(parent)
        parent = posixpath.dirname(parent)
    result = False
    for negate, rx in rules:
        if any(rx.match(c) for c in candidates):
            result = not negate
    return result


class Stage:
    def __init__(self, index, name, image, line):
        self.index, self.name, self.image, self.line = index, name, image, line
        self.workdir = "/"
        self.users = []
        # Copies from the build context: (destination in the image, repo path, is a directory,
        # destination is a directory).
        self.context_copies = []


def has_glob(path):
    return any(c in path for c in "*?[")


def split_copy(rest):
    """COPY/ADD arguments -> (flags dict, sources, destination) or None."""
    flags = {}
    tokens = shlex.split(rest, posix=True) if not rest.lstrip().startswith("[") else None
    if tokens is None:
        # Exec form after the flags is rare; flags come before the JSON array.
        head, _, arr = rest.partition("[")
        flags_tokens = head.split()
        args = exec_form("[" + arr)
        if args is None:
            return None
        tokens = flags_tokens + args
    while tokens and tokens[0].startswith("--"):
        name, _, value = tokens.pop(0)[2:].partition("=")
        flags[name] = value
    if len(tokens) < 2:
        return None
    return flags, tokens[:-1], tokens[-1]


def check_dockerfile(repo, path, known_flags, package_dir):
    rel_path = os.path.relpath(path, repo)
    with open(path, encoding="utf-8") as f:
        instructions = parse_dockerfile(f.read())

    # BuildKit reads <Dockerfile>.dockerignore beside it first, else .dockerignore in the context.
    ignore_file = path + ".dockerignore"
    if not os.path.isfile(ignore_file):
        ignore_file = os.path.join(repo, ".dockerignore")
    rules = dockerignore_rules(ignore_file)

    stages = []
    final = {"entrypoint": None, "cmd": None, "expose": set(), "stopsignal": None}
    for ins in instructions:
        where = f"{rel_path}:{ins.line}"
        if ins.keyword == "FROM":
            words = [w for w in ins.rest.split() if not w.startswith("--")]
            image = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            earlier = {s.name for s in stages if s.name}
            if image not in ALLOWED_BASES and image not in earlier:
                problem(where, f"FROM {image}: the base must be one of {', '.join(ALLOWED_BASES)}")
            stages.append(Stage(len(stages), name, image, ins.line))
            final = {"entrypoint": None, "cmd": None, "expose": set(), "stopsignal": None}
            continue
        if not stages:
            if ins.keyword != "ARG":
                problem(where, f"{ins.keyword} before the first FROM")
            continue
        stage = stages[-1]
        if ins.keyword == "WORKDIR":
            stage.workdir = posixpath.normpath(posixpath.join(stage.workdir, ins.rest))
        elif ins.keyword == "USER":
            stage.users.append(ins.rest.strip())
        elif ins.keyword == "EXPOSE":
            for p in ins.rest.split():
                m = re.fullmatch(r"(\d+)(?:/(?:tcp|udp))?", p)
                if m:
                    final["expose"].add(int(m.group(1)))
                else:
                    problem(where, f"EXPOSE {p}: not a port")
        elif ins.keyword in ("ENTRYPOINT", "CMD"):
            form = exec_form(ins.rest)
            if form is None:
                # Shell form: /bin/sh -c is PID 1 and SIGTERM never reaches sluice.
                problem(where, f"{ins.keyword} must be in exec (JSON) form, so that sluice is "
                               "PID 1 and gets SIGTERM")
            final[ins.keyword.lower()] = form or []
            if ins.keyword == "ENTRYPOINT":
                final["cmd"] = None  # an ENTRYPOINT resets the CMD set before it
        elif ins.keyword == "STOPSIGNAL":
            final["stopsignal"] = ins.rest.strip()
        elif ins.keyword in ("COPY", "ADD"):
            check_copy(repo, where, ins, stage, stages, rules, package_dir)

    if len(stages) < 2:
        problem(rel_path, f"{len(stages)} stage(s); a build stage and a runtime stage are expected")
    if not stages:
        return None
    last = stages[-1]
    user = last.users[-1] if last.users else None
    if user is None:
        problem(rel_path, "the last stage has no USER: the container would run as root")
    elif user.split(":")[0] in ("root", "0", ""):
        problem(rel_path, f"the last stage runs as USER {user}")

    entry, cmd = final["entrypoint"], final["cmd"]
    if entry and entry[0] != PACKAGE_BINARY:
        problem(rel_path, f"ENTRYPOINT should be [\"{PACKAGE_BINARY}\", ...] (what the package "
                          f"installs), not {entry}")
    if entry is None:
        problem(rel_path, "the last stage has no ENTRYPOINT")
    argv = (entry or [])[1:] + (cmd or [])
    check_flags(f"{rel_path}: ENTRYPOINT/CMD", argv, known_flags)
    for flag, value in flag_values(argv):
        if flag in ("--listen", "--admin-listen"):
            hp = split_host_port(value)
            if hp is None:
                problem(rel_path, f"CMD {flag} {value}: not HOST:PORT")
                continue
            if is_loopback(hp[0]):
                problem(rel_path, f"CMD {flag} {value}: loopback is unreachable from outside "
                                  "the container")
            if hp[1] not in final["expose"]:
                problem(rel_path, f"CMD {flag} port {hp[1]} is not EXPOSEd")
    sig = final["stopsignal"]
    if sig is not None and sig.upper() not in ("SIGTERM", "TERM", "15", "SIGINT", "INT", "2"):
        problem(rel_path, f"STOPSIGNAL {sig}: sluice stops gracefully on SIGTERM or SIGINT")

    if shutil.which("hadolint"):
        run_hadolint(rel_path, path)
    else:
        # hadolint is not packaged in Debian; where it is installed, its errors count.
        note("hadolint is not on PATH: skipped")
    return user


def check_copy(repo, where, ins, stage, stages, rules, package_dir):
    parsed = split_copy(ins.rest)
    if parsed is None:
        if not ins.heredocs:
            problem(where, f"{ins.keyword} {ins.rest}: needs a source and a destination")
        return
    flags, sources, dest = parsed
    dest_is_dir = dest.endswith("/") or len(sources) > 1
    dest_abs = posixpath.normpath(posixpath.join(stage.workdir, dest))

    if "from" not in flags:
        for src in sources:
            if ins.heredocs and src.startswith("<<"):
                continue
            if re.match(r"^(https?|git)://|^git@", src):
                problem(where, f"{ins.keyword} {src}: fetches from outside the repo")
                continue
            rel = posixpath.normpath(src.lstrip("/"))
            if rel == ".." or rel.startswith("../"):
                problem(where, f"{ins.keyword} {src}: outside the build context")
                continue
            matches = sorted(glob.glob(rel, root_dir=repo)) if has_glob(rel) else (
                [rel] if os.path.lexists(os.path.join(repo, rel)) else [])
            if not matches:
                problem(where, f"{ins.keyword} {src}: no such file in the repo (the build context)")
                continue
            kept = [m for m in matches if not ignored(rules, m)]
            if not kept:
                problem(where, f"{ins.keyword} {src}: excluded by the .dockerignore")
                continue
            if rel == ".":
                for needed in ("build", ".git"):
                    if not ignored(rules, needed):
                        problem(where, f"{ins.keyword} . copies {needed}/ too: the .dockerignore "
                                       f"should exclude it")
            for m in kept:
                is_dir = os.path.isdir(os.path.join(repo, m))
                stage.context_copies.append((dest_abs, m, is_dir, dest_is_dir))
        return

    ref = flags["from"]
    source_stage = None
    for s in stages[:-1]:
        if s.name == ref or str(s.index) == ref:
            source_stage = s
    if source_stage is None:
        problem(where, f"{ins.keyword} --from={ref}: not an earlier stage of this Dockerfile")
        return
    for src in sources:
        image_path = posixpath.normpath(posixpath.join("/", src))
        repo_path = map_to_repo(source_stage, image_path)
        if repo_path is None:
            problem(where, f"COPY --from={ref} {src}: not under what stage {ref} copied from the "
                           "context, so it cannot be traced to the repo")
            continue
        if repo_path == PACKAGE_SUBDIR or repo_path.startswith(PACKAGE_SUBDIR + "/"):
            if package_dir is None:
                continue  # written by `make package`: checked with --package-dir
            inner = posixpath.relpath(repo_path, PACKAGE_SUBDIR)
            if not glob.glob(os.path.join(package_dir, inner)):
                problem(where, f"COPY --from={ref} {src}: {inner} matches nothing in "
                               f"{package_dir} (what `make package` wrote)")
            continue
        if ignored(rules, repo_path):
            problem(where, f"COPY --from={ref} {src}: {repo_path} is excluded by the "
                           ".dockerignore and not a `make package` output")
            continue
        if not glob.glob(os.path.join(repo, repo_path)):
            problem(where, f"COPY --from={ref} {src}: {repo_path} is not in the repo")


def map_to_repo(stage, image_path):
    """The repo path that a path in the stage's image came from through a context COPY."""
    for dest, src, is_dir, dest_is_dir in reversed(stage.context_copies):
        if is_dir:
            if image_path == dest:
                return src
            if dest == "/" or image_path.startswith(dest + "/"):
                rel = posixpath.relpath(image_path, dest)
                return posixpath.normpath(posixpath.join(src, rel))
        else:
            target = posixpath.join(dest, posixpath.basename(src)) if dest_is_dir else dest
            if image_path == target:
                return src
    return None


def run_hadolint(rel_path, path):
    try:
        out = subprocess.run(["hadolint", "--format", "json", path], capture_output=True,
                             text=True, timeout=120)
    except OSError as e:
        problem(rel_path, f"hadolint: {e}")
        return
    try:
        findings = json.loads(out.stdout or "[]")
    except ValueError:
        problem(rel_path, f"hadolint exited with {out.returncode}: {out.stderr.strip()}")
        return
    for f in findings:
        if f.get("level") == "error":
            problem(f"{rel_path}:{f.get('line')}", f"hadolint {f.get('code')}: {f.get('message')}")


# ---------------------------------------------------------------------------------------------
# Kubernetes

VAR_RE = re.compile(r"\$\$|\$\(([^)]*)\)")


def var_refs(s):
    """Names in $(NAME) references ($$ escapes a $)."""
    return [m.group(1) for m in VAR_RE.finditer(s) if m.group(0) != "$$"]


def expand(s, values):
    """s with $(NAME) replaced from values; None when a value is unknown."""
    unknown = False

    def sub(m):
        nonlocal unknown
        if m.group(0) == "$$":
            return "$"
        v = values.get(m.group(1))
        if v is None:
            unknown = True
            return ""
        return v

    r = VAR_RE.sub(sub, s)
    return None if unknown else r


def label(doc):
    return f"{doc.get('kind')} {(doc.get('metadata') or {}).get('name')}"


def load_yaml(repo):
    docs = []
    base = os.path.join(repo, DEPLOY_DIR)
    for root, _, files in os.walk(base):
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, repo)
            try:
                with open(path, encoding="utf-8") as f:
                    loaded = list(yaml.safe_load_all(f))
            except yaml.YAMLError as e:
                problem(rel, f"not valid YAML: {e}".replace("\n", " "))
                continue
            for i, doc in enumerate(loaded):
                if doc is None:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc:
                    problem(rel, f"document {i + 1} is not a Kubernetes object")
                    continue
                docs.append((rel, doc))
    return docs


def check_kubernetes(repo, known_flags, image_user):
    before = len(problems)
    docs = load_yaml(repo)
    if not docs:
        if len(problems) == before:  # else the YAML did not parse, as already said
            problem(DEPLOY_DIR, "no Kubernetes YAML")
        return
    kinds = {d["kind"] for _, d in docs}
    for kind in ("Deployment", "ConfigMap", "Service"):
        if kind not in kinds:
            problem(DEPLOY_DIR, f"no {kind} in the YAML")

    configmaps = {}
    for rel, doc in docs:
        if doc["kind"] != "ConfigMap":
            continue
        name = (doc.get("metadata") or {}).get("name")
        if name in configmaps:
            problem(rel, f"ConfigMap {name} defined twice")
        configmaps[name] = doc
        for key, value in (doc.get("data") or {}).items():
            if not isinstance(value, str):
                problem(rel, f"ConfigMap {name}: data.{key} is {type(value).__name__}, must be a "
                             "string (quote it)")

    deployments = [(rel, d) for rel, d in docs if d["kind"] == "Deployment"]
    # Per Deployment: its template labels and, per container, ports by name, listened ports.
    pods = []
    for rel, dep in deployments:
        pods.append(check_deployment(rel, dep, configmaps, known_flags, image_user))

    for rel, svc in docs:
        if svc["kind"] == "Service":
            check_service(rel, svc, pods)


def cm_key_exists(cm, key):
    return key in (cm.get("data") or {}) or key in (cm.get("binaryData") or {})


def check_deployment(rel, dep, configmaps, known_flags, image_user):
    where = f"{rel}: {label(dep)}"
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    pod = template.get("spec") or {}
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    if not match or any(labels.get(k) != v for k, v in match.items()):
        problem(where, f"selector {match} does not match the pod template labels {labels}")

    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or \
            str(rolling.get("maxUnavailable", "25%")) not in ("0", "0%"):
        problem(where, "a config change rolls the pods: strategy RollingUpdate with "
                       "maxUnavailable 0 keeps every replica serving meanwhile")

    pod_sc = pod.get("securityContext") or {}
    referenced = set()

    def cm_ref(w, name, key=None):
        referenced.add(name)
        cm = configmaps.get(name)
        if cm is None:
            problem(w, f"ConfigMap {name} is not defined in {DEPLOY_DIR}")
        elif key is not None and not cm_key_exists(cm, key):
            problem(w, f"ConfigMap {name} has no key {key}")

    for vol in pod.get("volumes") or []:
        cmv = vol.get("configMap")
        if cmv:
            w = f"{where}: volume {vol.get('name')}"
            cm_ref(w, cmv.get("name"))
            for item in cmv.get("items") or []:
                cm_ref(w, cmv.get("name"), item.get("key"))

    containers = []
    grace = pod.get("terminationGracePeriodSeconds", 30)
    for c in pod.get("containers") or []:
        cw = f"{where}: container {c.get('name')}"
        values = {}          # name -> value when it is known statically
        defined = set()
        has_secret_env = False
        for ef in c.get("envFrom") or []:
            prefix = ef.get("prefix", "")
            if "configMapRef" in ef:
                name = ef["configMapRef"].get("name")
                cm_ref(f"{cw}: envFrom", name)
                for k, v in ((configmaps.get(name) or {}).get("data") or {}).items():
                    defined.add(prefix + k)
                    values[prefix + k] = v if isinstance(v, str) else None
            else:
                has_secret_env = True
        for e in c.get("env") or []:
            name = e.get("name")
            ew = f"{cw}: env {name}"
            if "value" in e:
                # An env value sees only the variables defined before it.
                for ref in var_refs(str(e["value"])):
                    if ref not in defined:
                        problem(ew, f"$({ref}) is not defined before it")
                values[name] = expand(str(e["value"]), values)
            else:
                vf = e.get("valueFrom") or {}
                ref = vf.get("configMapKeyRef")
                if ref:
                    cm_ref(ew, ref.get("name"), ref.get("key"))
                    data = (configmaps.get(ref.get("name")) or {}).get("data") or {}
                    v = data.get(ref.get("key"))
                    values[name] = v if isinstance(v, str) else None
                else:
                    values[name] = None
            defined.add(name)

        argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        for a in argv:
            for ref in var_refs(a):
                if ref not in defined and not has_secret_env:
                    problem(cw, f"$({ref}) in the args is not a defined env variable (the "
                                "kubelet would pass it on literally)")
        if c.get("command") and c["command"][0] != PACKAGE_BINARY:
            problem(cw, f"command {c['command'][0]} is not {PACKAGE_BINARY}")
        check_flags(f"{cw}: args", argv, known_flags)

        listened = {}
        for flag, default in (("--listen", "127.0.0.1:8080"), ("--admin-listen", None)):
            raw = None
            for f, v in flag_values(argv):
                if f == flag:
                    raw = v
            if raw is None:
                raw = default
            if raw is None:
                problem(cw, f"no {flag}: the probes need the admin listener")
                continue
            value = expand(raw, values)
            hp = split_host_port(value) if value is not None else None
            if hp is None:
                problem(cw, f"{flag} {raw}: cannot tell its HOST:PORT statically")
                continue
            if is_loopback(hp[0]):
                problem(cw, f"{flag} {value}: loopback, unreachable from the kubelet and the "
                            "Service; use 0.0.0.0")
            listened[flag] = hp[1]

        ports = {}
        numbers = set()
        for p in c.get("ports") or []:
            numbers.add(p.get("containerPort"))
            if p.get("name"):
                ports[p["name"]] = p.get("containerPort")

        for probe_name, path in (("readinessProbe", "/ready"), ("livenessProbe", "/healthz")):
            probe = c.get(probe_name)
            pw = f"{cw}: {probe_name}"
            if not probe:
                problem(cw, f"no {probe_name} (httpGet {path} on the admin port)")
                continue
            get = probe.get("httpGet")
            if not get:
                problem(pw, f"not an httpGet of {path}")
                continue
            if get.get("path") != path:
                problem(pw, f"path {get.get('path')} is not {path}")
            port = get.get("port")
            if port is None:
                problem(pw, "httpGet has no port")
                continue
            if isinstance(port, str) and not port.isdigit():
                if port not in ports:
                    problem(pw, f"port {port} is not a named port of the container")
                    continue
                port = ports[port]
            if "--admin-listen" in listened and int(port) != listened["--admin-listen"]:
                problem(pw, f"port {port} is not the --admin-listen port "
                            f"{listened['--admin-listen']}")

        # Stop sequence: preStop, then SIGTERM and the drain, all within the grace period.
        pre = ((c.get("lifecycle") or {}).get("preStop") or {})
        pre_seconds = 0
        cmd = (pre.get("exec") or {}).get("command") or []
        if len(cmd) == 2 and posixpath.basename(cmd[0]) == "sleep" and str(cmd[1]).isdigit():
            pre_seconds = int(cmd[1])
        elif "sleep" in pre:
            pre_seconds = int((pre["sleep"] or {}).get("seconds", 0))
        if grace <= pre_seconds + DRAIN_SECONDS:
            problem(where, f"terminationGracePeriodSeconds {grace} leaves no room for the "
                           f"preStop ({pre_seconds}s) and sluice's {DRAIN_SECONDS}s drain")

        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))):
            problem(cw, "runAsNonRoot is not set")
        elif image_user is not None and not image_user.split(":")[0].isdigit():
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if not isinstance(uid, int) or uid == 0:
                problem(cw, f"runAsNonRoot with the image's USER {image_user} (a name) fails: "
                            "the kubelet needs a numeric non-zero runAsUser")
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(cw, "allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(cw, "readOnlyRootFilesystem is not true")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problem(cw, "capabilities do not drop ALL")
        if not (c.get("resources") or {}).get("requests"):
            problem(cw, "no resource requests")

        containers.append({"ports": ports, "numbers": numbers,
                           "listened": set(listened.values())})

    for name in sorted(n for n in referenced if n in configmaps):
        if configmaps[name].get("immutable") is not True:
            problem(where, f"ConfigMap {name} is not immutable: a change must be a new, "
                           "versioned ConfigMap that rolls the pods")
    return {"labels": labels, "containers": containers, "where": where}


def check_service(rel, svc, pods):
    where = f"{rel}: {label(svc)}"
    spec = svc.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector:
        problem(where, "no selector")
        return
    selected = [p for p in pods if all(p["labels"].get(k) == v for k, v in selector.items())]
    if not selected:
        problem(where, f"selector {selector} matches no pod template")
        return
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        ok = False
        for p in selected:
            for c in p["containers"]:
                named = isinstance(target, str) and not target.isdigit()
                number = c["ports"].get(target) if named else int(target)
                if number in c["numbers"] and number in c["listened"]:
                    ok = True
        if not ok:
            problem(where, f"targetPort {target} is not a container port that sluice listens on")


# ---------------------------------------------------------------------------------------------

def main():
    default_repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=default_repo, help="the repo root (the build context)")
    ap.add_argument("--package-dir", help=f"what `make package` wrote ({PACKAGE_SUBDIR}): "
                                          "COPY --from sources must be there")
    ap.add_argument("--sluice", help="a sluice binary: every --flag used must be in its --help")
    args = ap.parse_args()
    repo = os.path.abspath(args.repo)

    known = sluice_flags(args.sluice) if args.sluice else None
    if args.package_dir and not os.path.isdir(args.package_dir):
        problem(args.package_dir, "--package-dir is not a directory")

    deploy = os.path.join(repo, DEPLOY_DIR)
    dockerfiles = sorted(
        os.path.join(deploy, n) for n in (os.listdir(deploy) if os.path.isdir(deploy) else [])
        if (n == "Dockerfile" or n.startswith("Dockerfile.") or n.endswith(".Dockerfile"))
        and not n.endswith(".dockerignore"))
    if not dockerfiles:
        problem(DEPLOY_DIR, "no Dockerfile")
    image_user = None
    for path in dockerfiles:
        user = check_dockerfile(repo, path, known, args.package_dir)
        image_user = image_user or user
    check_kubernetes(repo, known, image_user)

    if problems:
        for p in problems:
            print(f"check_deploy: {p}")
        return 1
    print("check_deploy: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
