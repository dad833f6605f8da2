#!/usr/bin/env bash
# Validates the pipeline and packaging files (issue 6); part of scripts/test.sh.
#
#   scripts/validate-files.sh [REPO_DIR]      (default: this repository)
#
#   workflows  .github/workflows/*.yml against GitHub's workflow JSON schema (check-jsonschema's
#              built-in `vendor.github-workflows`, shipped inside the package: no network at run
#              time), plus the properties issue 6 asks of ci/build-and-push/release
#   compose    docker-compose.gpu.yml by `docker-compose config` (1.29, required), by
#              `docker compose config` (v2, when installed) and against the compose-spec schema
#   Dockerfile parsed for: syntax header, multi-stage, dependency layer before sources, cache
#              mounts, slim `runtime` stage, CA certificates, UID 1001, OCI labels, ENTRYPOINT
#   agreement  docker-compose.gpu.yml against assets/default-config.toml: project, services,
#              migrate service, image repository and tag variable, health URL port and path
#   examples   assets/examples/*/docker-compose.yml by `docker-compose config` with the image
#              variables of the elt-console.toml beside it pinned, checked against that config
#   systemd    assets/systemd/elt-console-watch.service by `systemd-analyze verify`, plus the
#              properties the docs promise (watch, non-root + docker group, restart, journal)
#
# One line per check (`ok` / `FAIL` with the reason); exits 1 if any check failed.
# Python tools live in a venv under ${XDG_CACHE_HOME:-$HOME/.cache}/elt-console/venv (override:
# ELT_VALIDATE_VENV), created on first use from PyPI (needs python3-venv on Debian; installed
# automatically when run as root).
set -uo pipefail

ROOT=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd) || { echo "FAIL  no such directory: $1"; exit 1; }
VENV=${ELT_VALIDATE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/elt-console/venv}
# Pinned: the built-in schemas are a snapshot inside this release.
REQUIREMENTS=("check-jsonschema==0.39.0" "PyYAML>=6,<7" "tomli>=2; python_version < '3.11'")

FAILS=0
ok() { printf 'ok    %s\n' "$1"; }
skip() { printf 'skip  %s\n' "$1"; }
fail() {
  printf 'FAIL  %s\n' "$1"
  shift
  local line
  for line in "$@"; do
    [[ -n $line ]] && printf '        %s\n' "$line"
  done
  FAILS=$((FAILS + 1))
}
# Indented tail of a command's output, for fail().
tailof() { tail -n "${2:-15}" <<<"$1"; }

# ------------------------------------------------------------------------------ python venv
venv_ready() {
  [[ -x $VENV/bin/python && -f $VENV/.requirements ]] &&
    [[ $(cat "$VENV/.requirements") == "${REQUIREMENTS[*]}" ]] &&
    "$VENV/bin/python" -c 'import check_jsonschema, yaml' 2>/dev/null
}

ensure_venv() {
  venv_ready && return 0
  mkdir -p "$(dirname "$VENV")" || return 1
  (
    # One installer at a time (parallel test runs share the venv).
    flock -w 300 9 || { echo "timed out waiting for $VENV.lock"; exit 1; }
    venv_ready && exit 0
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
      if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv ||
          { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv; } ||
          exit 1
      else
        echo "python3 cannot create a venv (Debian: sudo apt-get install python3-venv)"
        exit 1
      fi
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV" || exit 1
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${REQUIREMENTS[@]}" || exit 1
    printf '%s' "${REQUIREMENTS[*]}" >"$VENV/.requirements"
  ) 9>"$VENV.lock"
}

if out=$(ensure_venv 2>&1); then
  ok "python venv ($VENV)"
else
  fail "python venv ($VENV): cannot install ${REQUIREMENTS[*]}" "$(tailof "$out")"
  exit 1
fi
PY=$VENV/bin/python
CHECK_JSONSCHEMA=$VENV/bin/check-jsonschema

# ------------------------------------------------------------------------------ (a) workflows
WORKFLOWS=(ci.yml build-and-push.yml release.yml ../../assets/workflows/deploy-over-ssh.yml)
for wf in "${WORKFLOWS[@]}"; do
  f=$ROOT/.github/workflows/$wf
  if [[ ! -f $f ]]; then
    fail "workflow $wf: missing ($f)"
  elif out=$("$CHECK_JSONSCHEMA" --builtin-schema vendor.github-workflows "$f" 2>&1); then
    ok "workflow $wf: valid against GitHub's workflow schema"
  else
    fail "workflow $wf: not valid against GitHub's workflow schema" "$(tailof "$out")"
  fi
done

# ------------------------------------------------------------------------------ (b) compose
COMPOSE=$ROOT/docker-compose.gpu.yml
CONFIG_TOML=$ROOT/assets/default-config.toml
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elt-validate.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP PIPE

# What the Python checks below share, imported by each of them (PYTHONPATH=$TMP).
cat >"$TMP/validate_common.py" <<'PYEOF'
"""Helpers shared by the Python checks of scripts/validate-files.sh."""
import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

fails = 0


def check(name, problems):
    """problems: list of strings; empty means ok."""
    global fails
    if problems:
        fails += 1
        print(f"FAIL  {name}")
        for p in problems:
            print(f"        {p}")
    else:
        print(f"ok    {name}")


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def published(svc):
    """A compose service's ports as (published, target) pairs."""
    res = []
    for port in svc.get("ports") or []:
        if isinstance(port, dict):
            res.append((str(port.get("published")), str(port.get("target"))))
        else:
            parts = str(port).split("/")[0].split(":")
            res.append((parts[-2] if len(parts) >= 2 else parts[-1], parts[-1]))
    return res
PYEOF
export PYTHONPATH=$TMP

# From the console's defaults: the project (what the console passes with -p), and the first
# service's image repository and tag variable (for the pinned render below).
read -r PROJECT IMAGE_REPO IMAGE_VAR < <("$PY" -c '
import sys
from validate_common import tomllib
with open(sys.argv[1], "rb") as f:
    c = tomllib.load(f)
s = c["deployment"]["services"][0]
print(c["deployment"]["project"], s["image"], s["image_var"])
' "$CONFIG_TOML" 2>/dev/null)
PROJECT=${PROJECT:-elt}

# Render the compose file in a scratch folder (empty .env.production and .env, so no secrets
# and no pinned tag) with a clean environment: only the given VAR=value pairs are set.
# Usage: render OUT v1|v2 [VAR=value...]
render() {
  local out=$1 impl=$2 dir
  shift 2
  dir=$TMP/render-$impl-$RANDOM
  mkdir -p "$dir"
  cp "$COMPOSE" "$dir/docker-compose.gpu.yml"
  : >"$dir/.env.production"
  : >"$dir/.env"
  local cmd=(docker-compose) profile
  [[ $impl == v2 ]] && cmd=(docker compose)
  # Every profile enabled: compose v2 leaves services of inactive profiles (migrate) out of
  # `config`; 1.29 shows them anyway.
  for profile in "${PROFILES[@]}"; do
    cmd+=(--profile "$profile")
  done
  (cd "$dir" && env -i PATH="$PATH" HOME="$HOME" DOCKER_CONFIG="$TMP/docker-config" "$@" \
    "${cmd[@]}" -p "$PROJECT" -f docker-compose.gpu.yml config) >"$out" 2>"$out.err"
}
PROFILES=()
if [[ -f $COMPOSE ]]; then
  mapfile -t PROFILES < <("$PY" -c '
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1])) or {}
names = {p for s in (doc.get("services") or {}).values() if isinstance(s, dict) for p in s.get("profiles") or []}
print("\n".join(sorted(names)))
' "$COMPOSE" 2>/dev/null | grep .)
fi

RENDER="" RENDER_IMPL="" RENDER_PINNED=""
if [[ ! -f $COMPOSE ]]; then
  fail "compose: missing ($COMPOSE)"
else
  if ! command -v docker-compose >/dev/null; then
    fail "compose 1.29: docker-compose not installed (Debian: apt-get install docker-compose)"
  elif render "$TMP/v1.yml" v1; then
    ok "compose 1.29: docker-compose config accepts docker-compose.gpu.yml"
    RENDER=$TMP/v1.yml RENDER_IMPL=v1
  else
    fail "compose 1.29: docker-compose config rejects docker-compose.gpu.yml" "$(tailof "$(cat "$TMP/v1.yml.err")")"
  fi

  if docker compose version >/dev/null 2>&1; then
    if render "$TMP/v2.yml" v2; then
      ok "compose v2: docker compose config accepts docker-compose.gpu.yml"
      [[ -n $RENDER ]] || RENDER=$TMP/v2.yml RENDER_IMPL=v2
    else
      fail "compose v2: docker compose config rejects docker-compose.gpu.yml" "$(tailof "$(cat "$TMP/v2.yml.err")")"
    fi
  else
    skip "compose v2: 'docker compose' not installed here (the compose-spec check below stands in)"
  fi

  if out=$("$CHECK_JSONSCHEMA" --builtin-schema vendor.compose-spec "$COMPOSE" 2>&1); then
    ok "compose: docker-compose.gpu.yml valid against the compose-spec schema"
  else
    fail "compose: docker-compose.gpu.yml not valid against the compose-spec schema" "$(tailof "$out")"
  fi
fi

# ------------------------------------------------------------------------------ (a, c, d) in python
# Render with the tag variable pinned, for the agreement checks (python below only reads).
PIN_SHA=0123456789abcdef0123456789abcdef01234567
if [[ -n $RENDER && -n $IMAGE_VAR && -n $IMAGE_REPO ]]; then
  if render "$TMP/pinned.yml" "$RENDER_IMPL" "$IMAGE_VAR=$IMAGE_REPO:main-$PIN_SHA"; then
    RENDER_PINNED=$TMP/pinned.yml
  fi
fi

if ! "$PY" - "$ROOT" "$RENDER" "$RENDER_PINNED" "$PIN_SHA" <<'PYEOF'
import json, re, shlex, sys
from pathlib import Path

import validate_common
import yaml
from validate_common import check, load_yaml, published, tomllib

root = Path(sys.argv[1])
render, render_pinned, pin_sha = sys.argv[2], sys.argv[3], sys.argv[4]


# ---------------------------------------------------------------- workflows: issue 6's properties
def triggers(wf):
    # YAML 1.1 reads the key `on` as True.
    on = wf.get("on", wf.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {k: None for k in on}
    return on or {}


def steps(wf):
    for job in (wf.get("jobs") or {}).values():
        yield from job.get("steps") or []


def uses(wf, action):
    return [s for s in steps(wf) if str(s.get("uses", "")).split("@")[0] == action]


def runs(wf):
    return "\n".join(str(s.get("run", "")) for s in steps(wf))


def perms(wf):
    p = dict(wf.get("permissions") or {})
    for job in (wf.get("jobs") or {}).values():
        p.update(job.get("permissions") or {})
    return p


wfdir = root / ".github" / "workflows"

try:
    ci = load_yaml(wfdir / "ci.yml")
    on, p = triggers(ci), []
    if "pull_request" not in on or "push" not in on:
        p.append("must run on pull_request and push")
    r = runs(ci)
    if "cargo fmt --check" not in r:
        p.append("no `cargo fmt --check` step")
    if not re.search(r"cargo clippy\b.*--all-targets.*-- -D warnings", r):
        p.append("no `cargo clippy --all-targets ... -- -D warnings` step")
    if "scripts/test.sh" not in r:
        p.append("does not run scripts/test.sh")
    if not uses(ci, "actions/checkout"):
        p.append("no actions/checkout step")
    tc = uses(ci, "dtolnay/rust-toolchain")
    if not tc or not all(c in str((tc[0].get("with") or {}).get("components", "")) for c in ("rustfmt", "clippy")):
        p.append("no dtolnay/rust-toolchain step with components rustfmt, clippy")
    if not uses(ci, "Swatinem/rust-cache"):
        p.append("no Swatinem/rust-cache step")
except Exception as e:  # noqa: BLE001
    p = [f"cannot read: {e}"]
check("workflow ci.yml: fmt --check, clippy -D warnings, scripts/test.sh on PRs and pushes", p)

try:
    bp = load_yaml(wfdir / "build-and-push.yml")
    on, p = triggers(bp), []
    push = on.get("push") or {}
    if "main" not in (push.get("branches") or []):
        p.append("push trigger must include branch main")
    if not any(str(t).startswith("v") for t in (push.get("tags") or [])):
        p.append("push trigger must include v* tags (semver image tags)")
    inputs = ((on.get("workflow_dispatch") or {}).get("inputs")) or {}
    b, pu = inputs.get("branch") or {}, inputs.get("push") or {}
    if str(b.get("default")) != "main":
        p.append("workflow_dispatch input `branch` must default to main")
    if pu.get("type") != "boolean" or pu.get("default") is not True:
        p.append("workflow_dispatch input `push` must be a boolean defaulting to true")
    pm = perms(bp)
    if pm.get("contents") != "read" or pm.get("packages") != "write":
        p.append("permissions must be contents: read, packages: write")
    if not bp.get("concurrency"):
        p.append("no concurrency group")
    co = uses(bp, "actions/checkout")
    if not co or "inputs.branch" not in str((co[0].get("with") or {}).get("ref", "")):
        p.append("checkout must use the `branch` input as ref")
    if not uses(bp, "docker/setup-buildx-action"):
        p.append("no docker/setup-buildx-action step")
    lg = uses(bp, "docker/login-action")
    if not lg:
        p.append("no docker/login-action step")
    else:
        w = lg[0].get("with") or {}
        if w.get("registry") != "ghcr.io" or "GITHUB_TOKEN" not in str(w.get("password")):
            p.append("login must be to ghcr.io with GITHUB_TOKEN")
        if "pull_request" not in str(lg[0].get("if", "")):
            p.append("login must be skipped on pull requests")
    md = uses(bp, "docker/metadata-action")
    if not md:
        p.append("no docker/metadata-action step")
    else:
        w = md[0].get("with") or {}
        tags, labels = str(w.get("tags", "")), str(w.get("labels", ""))
        if "value=latest" not in tags or "is_default" not in tags and "is_default_branch" not in tags:
            p.append("metadata: `latest` only on the default branch")
        if "type=semver" not in tags:
            p.append("metadata: no semver tags")
        if "sha-" not in tags and not re.search(r"^\s*type=sha\s*$", tags, re.M):
            p.append("metadata: no sha-<short> tag")
        if not re.search(r"branch[^\n]*-\$\{\{[^}]*sha", tags) and "prefix={{branch}}-" not in tags:
            p.append("metadata: no <branch>-<sha> tag")
        if "revision" not in labels and "org.opencontainers" not in labels:
            p.append("metadata: no OCI labels")
        if not re.search(r",,|\[:lower:\]|tr\s+A-Z\s+a-z|lower\(", runs(bp)):
            p.append("image name is not lower-cased")
    bu = uses(bp, "docker/build-push-action")
    if not bu:
        p.append("no docker/build-push-action step")
    else:
        w = bu[0].get("with") or {}
        if w.get("target") != "runtime":
            p.append("build target must be runtime")
        if str(w.get("platforms")) != "linux/amd64":
            p.append("platforms must be linux/amd64")
        if "type=registry" not in str(w.get("cache-from", "")) or "type=registry" not in str(w.get("cache-to", "")):
            p.append("registry cache-from and cache-to required")
        if "mode=max" not in str(w.get("cache-to", "")):
            p.append("cache-to must use mode=max")
        pv = w.get("push")
        if isinstance(pv, bool) or "${{" not in str(pv):
            p.append("push must be an expression honouring the input (and false on pull requests)")
        if "pull_request" not in str(bp):
            p.append("nothing keeps pull requests from pushing")
        if w.get("labels") is None:
            p.append("labels from the metadata step not passed to the build")
except Exception as e:  # noqa: BLE001
    p = [f"cannot read: {e}"]
check("workflow build-and-push.yml: triggers, inputs, permissions, GHCR tags/labels, cache, target runtime", p)

try:
    rl = load_yaml(wfdir / "release.yml")
    on, p = triggers(rl), []
    if not any(str(t).startswith("v") for t in ((on.get("push") or {}).get("tags") or [])):
        p.append("must run on pushes of v* tags")
    if perms(rl).get("contents") != "write":
        p.append("permissions must be contents: write")
    r = runs(rl)
    if "x86_64-unknown-linux-gnu" not in str(rl):
        p.append("no x86_64-unknown-linux-gnu build")
    if "cargo build --release" not in r:
        p.append("no `cargo build --release`")
    if "tar " not in r or ".tar.gz" not in r:
        p.append("no tar.gz packaging")
    if "sha256sum" not in r:
        p.append("no SHA-256 checksums")
    if not re.search(r"completions \"?\$sh", r) or not re.search(r"\bman\s+--dir\b", r):
        p.append("the archive lacks the generated completions or man page")
    if not uses(rl, "softprops/action-gh-release") and "gh release" not in r:
        p.append("nothing attaches the files to the release")
except Exception as e:  # noqa: BLE001
    p = [f"cannot read: {e}"]
check("workflow release.yml: v* tags, release build, tar.gz + sha256 with completions and man page, attached to the release", p)

# ---------------------------------------------------------------- (c) Dockerfile
def dockerfile(path):
    """[(stage_index, INSTRUCTION, args)], first line, ARG defaults before the first FROM."""
    text = Path(path).read_text()
    first = text.splitlines()[0] if text else ""
    logical, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # comment inside a continuation
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        logical.append(cur)
        cur = ""
    if cur:
        logical.append(cur)
    out, stage, global_args = [], -1, {}
    for line in logical:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stage += 1
        elif instr == "ARG" and stage == -1:
            k, _, v = args.strip().partition("=")
            global_args[k] = v.strip('"')
        out.append((stage, instr, args.strip()))
    return out, first, global_args


def subst(s, env):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), s)


df_path = root / "Dockerfile"
try:
    ins, first, gargs = dockerfile(df_path)
    stages = []  # (base, name)
    for st, i, a in ins:
        if i == "FROM":
            parts = [x for x in a.split() if not x.startswith("--")]
            base = subst(parts[0], gargs)
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else None
            stages.append((base, name))
    names = [n for _, n in stages]
    rt = names.index("runtime") if "runtime" in names else None
    rt_ins = [(i, a) for st, i, a in ins if st == rt] if rt is not None else []
    df_ok = True
except Exception as e:  # noqa: BLE001
    check("Dockerfile: readable", [f"cannot read {df_path}: {e}"])
    df_ok = False

if df_ok:
    check("Dockerfile: `# syntax=docker/dockerfile:1` header",
          [] if re.fullmatch(r"#\s*syntax\s*=\s*docker/dockerfile:1\S*", first.strip()) else [f"first line is {first!r}"])

    p = []
    if len(stages) < 2:
        p.append(f"{len(stages)} stage(s); a build stage and a runtime stage expected")
    if rt is None:
        p.append("no stage named `runtime`")
    elif rt != len(stages) - 1:
        p.append("`runtime` is not the last stage (plain `docker build` would not give it)")
    else:
        base = stages[rt][0]
        if not re.search(r"slim|distroless|alpine|scratch", base):
            p.append(f"runtime base {base!r} is not a slim image")
    check("Dockerfile: multi-stage, last stage `runtime` on a slim base"
          + (f" ({stages[rt][0]})" if rt is not None else ""), p)

    # Dependency layer: Cargo.toml + Cargo.lock copied and a cargo build run before src/ is copied.
    p, seen_manifest, dep_build, src_copied, final_build = [], False, False, False, None
    for st, i, a in ins:
        if i == "COPY" and "Cargo.toml" in a and "Cargo.lock" in a and not src_copied:
            seen_manifest = True
        if i == "COPY" and re.search(r"(^|\s)(\./)?src/?(\s|$)", a):
            src_copied = True
        if i == "RUN" and "cargo build" in a:
            if seen_manifest and not src_copied:
                dep_build = True
            elif src_copied:
                final_build = a
    if not seen_manifest:
        p.append("Cargo.toml and Cargo.lock are not copied before the sources")
    if not dep_build:
        p.append("no `cargo build` of the dependencies before src/ is copied")
    if not final_build:
        p.append("no `cargo build` after the sources are copied")
    elif "--release" not in final_build or "--locked" not in final_build:
        p.append("the final build must use --release --locked")
    check("Dockerfile: dependencies built before sources, then --release --locked", p)

    mounts = " ".join(a for _, i, a in ins if i == "RUN")
    p = []
    if not re.search(r"--mount=type=cache,[^ ]*target=/usr/local/cargo/registry", mounts):
        p.append("no cache mount for /usr/local/cargo/registry")
    if not re.search(r"--mount=type=cache,[^ ]*target=[^ ,]*/target[ ,]", mounts + " "):
        p.append("no cache mount for the cargo target dir")
    check("Dockerfile: cache mounts for the cargo registry and target dir", p)

    p = []
    apt = " ".join(a for i, a in rt_ins if i == "RUN")
    if not re.search(r"(apt-get|apt|apk)\s+(install|add)\b[^;&|]*\bca-certificates\b", apt):
        p.append("runtime stage does not install ca-certificates")
    check("Dockerfile: runtime installs ca-certificates", p)

    p = []
    users = [a for i, a in rt_ins if i == "USER"]
    if not users:
        p.append("runtime stage has no USER (runs as root)")
    else:
        u = subst(users[-1].split(":")[0], {**gargs, **{a.split("=")[0]: a.partition("=")[2].strip('"')
                                                           for i, a in rt_ins if i == "ARG" and "=" in a}})
        uid = None
        if u.isdigit():
            uid = int(u)
        else:  # a name: find its useradd
            for i, a in rt_ins:
                m = re.search(rf"useradd\b[^;&]*(?:--uid|-u)[ =]\"?(\$\{{?\w+\}}?|\d+)\"?[^;&]*\b{re.escape(u)}\b", a)
                if m:
                    v = subst(m.group(1), {a2.split("=")[0]: a2.partition("=")[2] for i2, a2 in rt_ins if i2 == "ARG"})
                    uid = int(v) if v.isdigit() else None
        if uid != 1001:
            p.append(f"last USER is {users[-1]!r}, expected UID 1001")
    check("Dockerfile: runtime runs as non-root UID 1001", p)

    p = []
    ep = [a for i, a in rt_ins if i == "ENTRYPOINT"]
    try:
        if not ep or json.loads(ep[-1]) != ["elt-console"]:
            p.append(f"ENTRYPOINT is {ep[-1] if ep else None!r}")
    except json.JSONDecodeError:
        p.append(f"ENTRYPOINT {ep[-1]!r} is not exec (JSON) form")
    check('Dockerfile: ENTRYPOINT ["elt-console"]', p)

    labels = " ".join(a for i, a in rt_ins if i == "LABEL")
    missing = [k for k in ("source", "revision", "created", "version", "title")
               if f"org.opencontainers.image.{k}=" not in labels]
    check("Dockerfile: OCI labels (title, source, version, revision, created)",
          [f"missing org.opencontainers.image.{k}" for k in missing])

# ---------------------------------------------------------------- (d) compose <-> default config
try:
    cfg = tomllib.loads((root / "assets" / "default-config.toml").read_text())
    dep = cfg["deployment"]
    cfg_ok = True
except Exception as e:  # noqa: BLE001
    check("agreement: assets/default-config.toml readable", [str(e)])
    cfg_ok = False

compose_path = root / "docker-compose.gpu.yml"
if cfg_ok and not render:
    check("agreement: compose file vs default config", ["no docker-compose config output to compare (see above)"])
elif cfg_ok:
    raw = compose_path.read_text()
    raw_doc = yaml.safe_load(raw) or {}
    conf = load_yaml(render) or {}
    pinned = load_yaml(render_pinned) if render_pinned else None
    services = conf.get("services") or {}

    p = []
    if Path(dep.get("compose_file", "")).name != compose_path.name:
        p.append(f"config compose_file {dep.get('compose_file')!r} is not {compose_path.name}")
    project = dep.get("project")
    if "name" in raw_doc and raw_doc["name"] != project:
        p.append(f"compose `name: {raw_doc['name']}` differs from config project {project!r}")
    if "name" not in raw_doc and not re.search(rf"(-p\s+{re.escape(project)}\b|COMPOSE_PROJECT_NAME={re.escape(project)}\b)", raw):
        p.append(f"compose file neither names project {project!r} nor documents `-p {project}`")
    check(f"agreement: compose file {dep.get('compose_file')} and project {project!r}", p)

    p = []
    for svc in dep.get("services", []):
        if svc["name"] not in services:
            p.append(f"service {svc['name']!r} is not in the compose file")
        m = svc.get("migrate_service")
        if m:
            ms = services.get(m)
            if ms is None:
                p.append(f"migrate service {m!r} is not in the compose file")
                continue
            if not ms.get("profiles"):
                p.append(f"migrate service {m!r} has no profile: a plain `up -d` would start it")
            if str(ms.get("restart", "no")) not in ("no", "False", "false"):
                p.append(f"migrate service {m!r} must not restart (restart: {ms.get('restart')!r})")
            if svc["name"] in services and ms.get("image") != services[svc["name"]].get("image"):
                p.append(f"migrate service {m!r} does not use {svc['name']!r}'s image")
            if not ms.get("command"):
                p.append(f"migrate service {m!r} has no command")
    check("agreement: services " + ", ".join(
        s["name"] + (f" (+{s['migrate_service']})" if s.get("migrate_service") else "") for s in dep.get("services", [])), p)

    p = []
    for svc in dep.get("services", []):
        name, repo, var = svc["name"], svc["image"], svc.get("image_var", "")
        img = (services.get(name) or {}).get("image", "")
        if img != f"{repo}:latest":
            p.append(f"{name}: image without {var} is {img!r}, expected {repo}:latest")
        raw_img = str(((raw_doc.get("services") or {}).get(name) or {}).get("image", ""))
        if not re.fullmatch(rf"\$\{{{re.escape(var)}(:?-[^}}]*)?\}}", raw_img):
            p.append(f"{name}: image {raw_img!r} is not ${{{var}:-...}}")
        if pinned is None:
            p.append(f"{name}: could not render with {var} set")
        else:
            want = f"{repo}:main-{pin_sha}"
            got = ((pinned.get("services") or {}).get(name) or {}).get("image")
            if got != want:
                p.append(f"{name}: with {var}={want} the image is {got!r}")
    check("agreement: image repository and tag variable "
          + ", ".join(f"{s['image']} / {s.get('image_var')}" for s in dep.get("services", [])), p)

    p = []
    from urllib.parse import urlsplit

    for h in cfg.get("health", []):
        u = urlsplit(h["url"])
        port = str(u.port or (443 if u.scheme == "https" else 80))
        if u.hostname not in ("localhost", "127.0.0.1", "::1"):
            continue  # not served by this stack
        owners = [n for n, s in services.items() if any(pub == port for pub, _ in published(s))]
        if not owners:
            p.append(f"health {h['name']!r} ({h['url']}): no service publishes port {port}")
            continue
        for n in owners:
            svc = services[n]
            target = next(t for pub, t in published(svc) if pub == port)
            test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))
            if not test:
                p.append(f"health {h['name']!r}: service {n!r} has no healthcheck")
            elif u.path not in test:
                p.append(f"health {h['name']!r}: {n!r} healthcheck does not probe {u.path}")
            elif f":{target}{u.path}" not in test:
                p.append(f"health {h['name']!r}: {n!r} healthcheck does not probe container port {target}")
    check("agreement: health URLs " + ", ".join(h["url"] for h in cfg.get("health", [])), p)

sys.exit(1 if validate_common.fails else 0)
PYEOF
then
  FAILS=$((FAILS + 1))
fi

# ------------------------------------------------------------------------------ (e) examples
# assets/examples/*/: each folder's docker-compose.yml rendered by `docker-compose config` (and
# v2 when installed) with its elt-console.toml's image variables pinned, and checked against that
# config. (tests/packaging.rs runs `elt-console config check` on the configs themselves.)
if ! "$PY" - "$ROOT" "$TMP" "$PIN_SHA" <<'PYEOF'
import os, shutil, subprocess, sys
from pathlib import Path
from urllib.parse import urlsplit

import validate_common
import yaml
from validate_common import check, published, tomllib

root, tmp, pin_sha = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0 \
    if shutil.which("docker") else False


def published_ports(svc):
    return [pub for pub, _ in published(svc)]


configs = sorted((root / "assets" / "examples").glob("*/elt-console.toml"))
check("examples: assets/examples/*/elt-console.toml present", [] if configs else ["none found"])
for cfg_path in configs:
    name, p = cfg_path.parent.name, []
    try:
        cfg = tomllib.loads(cfg_path.read_text())
        dep = cfg["deployment"]
        compose = cfg_path.parent / dep["compose_file"]
        raw = yaml.safe_load(compose.read_text()) or {}
    except Exception as e:  # noqa: BLE001
        check(f"example {name}: readable", [str(e)])
        continue
    raw_services = raw.get("services") or {}
    # Scratch copy with empty env files, so no secrets are needed and nothing is pinned but
    # what is passed below.
    work = tmp / f"example-{name}"
    shutil.copytree(cfg_path.parent, work)
    env_files = {dep.get("env_file", ".env")}
    profiles = set()
    for svc in raw_services.values():
        ef = svc.get("env_file") or []
        env_files.update([ef] if isinstance(ef, str) else ef)
        profiles.update(svc.get("profiles") or [])
    for ef in env_files:
        (work / ef).write_text("")
    pins = {}
    for s in dep["services"]:
        pattern = (s.get("commit_tags") or ["{sha}"])[0]
        pins[s["image_var"]] = f"{s['image']}:{pattern.replace('{sha}', pin_sha)}"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"),
           "DOCKER_CONFIG": str(tmp / "docker-config"), **pins}
    profile_args = [a for pr in sorted(profiles) for a in ("--profile", pr)]
    rendered = None
    for label, cmd in [("docker-compose", ["docker-compose"])] + ([("docker compose", ["docker", "compose"])] if v2 else []):
        r = subprocess.run(cmd + profile_args + ["-p", dep.get("project") or dep["stack"], "-f", compose.name, "config"],
                           cwd=work, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            p.append(f"`{label} config` rejects {compose.name}: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        elif rendered is None:
            rendered = yaml.safe_load(r.stdout) or {}
    if rendered is not None:
        services = rendered.get("services") or {}
        for s in dep["services"]:
            svc = services.get(s["name"])
            if svc is None:
                p.append(f"service {s['name']!r} is not in {compose.name}")
                continue
            if svc.get("image") != pins[s["image_var"]]:
                p.append(f"{s['name']}: with {s['image_var']} pinned the image is {svc.get('image')!r}")
            m = s.get("migrate_service")
            if m:
                ms = services.get(m)
                if ms is None:
                    p.append(f"migrate service {m!r} is not in {compose.name}")
                    continue
                if ms.get("image") != svc.get("image"):
                    p.append(f"migrate service {m!r} does not use {s['name']!r}'s image")
                if not ms.get("profiles"):
                    p.append(f"migrate service {m!r} has no profile: a plain `up -d` would start it")
                if str(ms.get("restart", "no")) not in ("no", "False", "false"):
                    p.append(f"migrate service {m!r} must not restart")
                if not ms.get("command"):
                    p.append(f"migrate service {m!r} has no command")
        proxy = cfg.get("proxy", {})
        host_proxy = proxy.get("kind", "none") in ("nginx", "caddy")
        if host_proxy:
            # Start-first needs two copies of the proxied service at once: no fixed host port.
            psvc = services.get(proxy.get("service", "app")) or {}
            target = str(proxy.get("port", 3000))
            for pub, tgt in published(psvc):
                if str(tgt) == target and pub not in ("", "None", "0"):
                    p.append(f"proxy.service {proxy.get('service', 'app')!r} publishes {target} on fixed host port {pub}: "
                             f"two copies cannot run; publish \"127.0.0.1::{target}\"")
        for h in cfg.get("health", []):
            # Behind a proxy on the host, the health URL is the proxy's, which compose does not publish.
            if host_proxy:
                continue
            u = urlsplit(h["url"])
            port = str(u.port or (443 if u.scheme == "https" else 80))
            if u.hostname in ("localhost", "127.0.0.1", "::1") and not any(
                    port in published_ports(svc) for svc in services.values()):
                p.append(f"health {h['name']!r} ({h['url']}): no service publishes port {port}")
    check(f"example {name}: {compose.name} renders with " + ", ".join(pins) + " pinned and matches its config", p)

sys.exit(1 if validate_common.fails else 0)
PYEOF
then
  FAILS=$((FAILS + 1))
fi

mapfile -t EXAMPLE_COMPOSE < <(compgen -G "$ROOT/assets/examples/*/docker-compose.yml")
if ((${#EXAMPLE_COMPOSE[@]})); then
  if out=$("$CHECK_JSONSCHEMA" --builtin-schema vendor.compose-spec "${EXAMPLE_COMPOSE[@]}" 2>&1); then
    ok "examples: ${#EXAMPLE_COMPOSE[@]} compose files valid against the compose-spec schema"
  else
    fail "examples: compose files not valid against the compose-spec schema" "$(tailof "$out")"
  fi
fi

# ------------------------------------------------------------------------------ (f) systemd unit
UNIT=$ROOT/assets/systemd/elt-console-watch.service
if [[ ! -f $UNIT ]]; then
  fail "systemd: missing ($UNIT)"
elif ! command -v systemd-analyze >/dev/null &&
  ! { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null && echo "installing systemd (for systemd-analyze)" &&
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1; }; }; }; then
  # Bare containers lack it; GitHub's runners and Debian machines have it.
  fail "systemd: systemd-analyze not installed (Debian: apt-get install systemd)"
else
  # verify wants ExecStart's binary to exist; it is not installed here, so point it at one that
  # is. It reports unknown keys and bad values as warnings with rc 0: any output is a failure.
  mkdir -p "$TMP/systemd"
  sed -E 's#^ExecStart=[^ ]*/elt-console( |$)#ExecStart=/bin/true\1#' "$UNIT" >"$TMP/systemd/${UNIT##*/}"
  if out=$(systemd-analyze verify --man=no "$TMP/systemd/${UNIT##*/}" 2>&1) && [[ -z $out ]]; then
    ok "systemd: systemd-analyze verify accepts ${UNIT##*/}"
  else
    fail "systemd: systemd-analyze verify complains about ${UNIT##*/}" "$(tailof "$out")"
  fi
  # The properties the operator docs promise.
  p=()
  grep -Eq '^ExecStart=/[^ ]*/elt-console watch( |$)' "$UNIT" || p+=("ExecStart is not .../elt-console watch")
  grep -Eq '^WorkingDirectory=/' "$UNIT" || p+=("no absolute WorkingDirectory (the deployment folder)")
  grep -Eq '^User=' "$UNIT" && ! grep -Eq '^User=(root|0)$' "$UNIT" || p+=("no non-root User=")
  grep -Eq '^SupplementaryGroups=.*\bdocker\b' "$UNIT" || p+=("User not given the docker group")
  grep -Eq '^Restart=(on-failure|always)$' "$UNIT" || p+=("no Restart=on-failure")
  grep -Eq '^StandardOutput=journal' "$UNIT" || p+=("StandardOutput is not the journal")
  grep -Eq '^After=.*docker\.service' "$UNIT" || p+=("not ordered after docker.service")
  if ((${#p[@]})); then
    fail "systemd: ${UNIT##*/} properties" "${p[@]}"
  else
    ok "systemd: ${UNIT##*/} runs elt-console watch in the deployment folder, non-root in group docker, restarts on failure, logs to the journal"
  fi
fi

if ((FAILS)); then
  echo "validate-files: FAILED"
  exit 1
fi
echo "validate-files: all checks passed"
