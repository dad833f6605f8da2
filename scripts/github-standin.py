#!/usr/bin/env python3
"""GitHub REST API stand-in for elt-console's integration tests and sandbox.

Serves GitHub's published example payloads (tests/fixtures/github) rewritten to describe
the stub build workflow: one workflow run per --sha (oldest first), package versions tagged
main-<sha>, compare (`/compare/BASE...HEAD` over the --sha history, one commit per sha),
rate-limit headers, ETags and 304s, workflow_dispatch, GitHub Deployments (create,
list, get, and their statuses: create, list), and GitHub's error shapes.
Python 3 standard library only.

Control endpoints (not GitHub's), all under /_standin/ and never recorded or rate limited:
  GET  /_standin/requests            {"count":N,"requests":[{method,path,query,if_none_match,
                                      authorized,status,body,api_version,accept}]}
  GET  /_standin/runs                the current runs (internal view)
  POST /_standin/reset               back to the start state (runs, requests, fails, modes, rate)
  POST /_standin/fail                {"status":401|403|404|422|500|..., "times":N?, "path_prefix":"..."?,
                                      "method":"GET"?}; {"status":0} or {"clear":true} clears
  POST /_standin/mode                {"dispatch_204":bool, "rate_limit":N, "rate_limit_auth":N,
                                      "rate_limit_unauth":N, "packages_verbatim":bool,
                                      "ghcr_org":bool (the owner is an organisation: /users/...
                                      404s, and /orgs/... pages link to
                                      /organizations/<id>/... on the host's root, as GHCR does),
                                      "packages_link_base":"http://host:port"|null (Link URLs of
                                      package pages on that base instead),
                                      "required_inputs":["name",...],
                                      "dispatch_conclusion":"success"|null}  (dispatch answers 422
                                      "Required input 'name' not provided" without the required
                                      inputs; with a conclusion, dispatched runs start completed)
  GET  /_standin/deployments         the deployments created, each with its statuses (internal view)
  POST /_standin/runs/{id|newest}/complete     {"conclusion":"success","head_sha":"..."?}
  POST /_standin/runs/{id|newest}/in_progress
"""
import argparse
import base64
import copy
import datetime as dt
import hashlib
import json
import os
import re
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DOCS = "https://docs.github.com/rest"
TEMPLATE_RUN_ID = "30433642"
TEMPLATE_WORKFLOW_ID = 161335
RUN_ID_BASE = 19000000101  # > 2^32: clients must use 64-bit ids
RUN_NUMBER_BASE = 101
PACKAGE_VERSION_ID_BASE = 310000001
ORG_ID = 9919  # the organisation's numeric id in GHCR's `/organizations/<id>/...` links
API_VERSION_ALWAYS_200 = "2026-03-10"


def iso(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()


def load(fixtures, name):
    with open(os.path.join(fixtures, name), encoding="utf-8") as f:
        return json.load(f)


def deep_replace(obj, pairs):
    """Apply string replacements to every string in a JSON value."""
    if isinstance(obj, str):
        for a, b in pairs:
            obj = obj.replace(a, b)
        return obj
    if isinstance(obj, list):
        return [deep_replace(x, pairs) for x in obj]
    if isinstance(obj, dict):
        return {k: deep_replace(v, pairs) for k, v in obj.items()}
    return obj


def created_filter(spec, value):
    """GitHub's `created` search syntax, cheaply: >=D, <=D, >D, <D, A..B, D (prefix compare)."""
    spec = spec.strip()

    def cut(d):
        return value[: len(d)]

    if ".." in spec:
        a, b = spec.split("..", 1)
        return (a in ("", "*") or cut(a) >= a) and (b in ("", "*") or cut(b) <= b)
    for op in (">=", "<=", ">", "<"):
        if spec.startswith(op):
            d = spec[len(op):]
            return {">=": cut(d) >= d, "<=": cut(d) <= d, ">": cut(d) > d, "<": cut(d) < d}[op]
    return cut(spec) == spec


class State:
    def __init__(self, args):
        self.args = args
        self.fixtures = args.fixtures
        self.owner, self.name = args.repo.split("/", 1)
        self.workflow_file = args.workflow
        self.shas = [s.lower() for s in args.sha]
        self.latest = (args.latest or (self.shas[-1] if self.shas else "")).lower()
        self.digests = {}
        for d in args.digest:
            sha, _, digest = d.partition("=")
            self.digests[sha.lower()] = digest
        self.base_time = parse_iso(args.base_time)
        self.step = args.step_hours * 3600
        self.lock = threading.Lock()
        self.t_runs_list = load(self.fixtures, "actions-runs-list.json")
        self.t_run_get = load(self.fixtures, "actions-run-get.json")
        self.t_workflow = load(self.fixtures, "actions-workflow-get.json")
        self.t_workflows = load(self.fixtures, "actions-workflows-list.json")
        self.t_dispatch = load(self.fixtures, "actions-workflow-dispatch-response-200.json")
        self.t_rate = load(self.fixtures, "rate-limit.json")
        self.t_pkg_auth = load(self.fixtures, "packages-versions-list-authenticated-user.json")
        self.t_pkg_user = load(self.fixtures, "packages-versions-list-user.json")
        self.t_pkg_org = load(self.fixtures, "packages-versions-list-org.json")
        self.t_job = load(self.fixtures, "actions-jobs-list.json")["jobs"][0]
        self.t_repo = load(self.fixtures, "repos-get.excerpt.json")
        self.t_content = load(self.fixtures, "repos-content-file.json")
        self.t_deployment = load(self.fixtures, "deployment-create-response-201.json")
        self.t_deployment_status = load(self.fixtures, "deployment-status-create-response-201.json")
        self.t_compare = load(self.fixtures, "compare-commits.json")
        with open(args.workflow_file, "rb") as f:
            self.workflow_bytes = f.read()
        self.rec_404 = load(self.fixtures, "recorded/error-404-branch-not-protected.octokit-fixtures.json")["response"]
        self.rec_422 = load(self.fixtures, "recorded/error-422-validation-failed.octokit-fixtures.json")["response"]
        self.reset()

    # ----- state -----
    def reset(self):
        self.requests = []
        self.fails = []
        self.modes = {"dispatch_204": False, "packages_verbatim": False, "required_inputs": [],
                      "dispatch_conclusion": None, "ghcr_org": False, "packages_link_base": None}
        self.limits = {False: self.args.rate_limit_unauth, True: self.args.rate_limit_auth}
        self.reset_rate()
        self.deployments = []  # each: the payload, plus "_statuses": [status payloads]
        self.runs = []
        for i, sha in enumerate(self.shas):
            t = self.base_time + i * self.step
            self.runs.append({
                "id": RUN_ID_BASE + i, "run_number": RUN_NUMBER_BASE + i, "head_sha": sha,
                "head_branch": "main", "event": "push", "status": "completed",
                "conclusion": "failure" if i == 2 else "success",
                "created_at": t - 540, "updated_at": t + 180, "run_started_at": t - 540,
                "display_title": "Stub commit %d (%s)" % (i + 1, sha[:7]), "commit_time": t - 600,
            })

    def reset_rate(self):
        self.rate_reset = int(time.time()) + 3600
        self.used = {False: 0, True: 0}

    def rate(self, authorized):
        if time.time() >= self.rate_reset:
            self.reset_rate()
        limit = self.limits[authorized]
        used = self.used[authorized]
        return limit, max(0, limit - used), self.rate_reset, used

    def newest_run(self):
        return max(self.runs, key=lambda r: (r["created_at"], r["id"])) if self.runs else None

    def find_run(self, rid):
        if rid == "newest":
            return self.newest_run()
        for r in self.runs:
            if str(r["id"]) == str(rid):
                return r
        return None

    # ----- rendering -----
    def url_pairs(self, api):
        full = "%s/%s" % (self.owner, self.name)
        return [
            ("https://api.github.com", api),
            ("octo-org/octo-repo", full),
            ("octocat/Hello-World", full),
        ]

    def workflow_obj(self, api):
        w = copy.deepcopy(self.t_workflow)
        w["name"] = "Build and push"
        w["path"] = ".github/workflows/%s" % self.workflow_file
        w = deep_replace(w, self.url_pairs(api))
        full = "%s/%s" % (self.owner, self.name)
        w["html_url"] = "https://github.com/%s/blob/main/.github/workflows/%s" % (full, self.workflow_file)
        w["badge_url"] = "https://github.com/%s/workflows/Build%%20and%%20push/badge.svg" % full
        return w

    def fix_repo(self, repo, api):
        if not isinstance(repo, dict):
            return repo
        repo["name"] = self.name
        repo["full_name"] = "%s/%s" % (self.owner, self.name)
        repo["private"] = False
        if isinstance(repo.get("owner"), dict):
            o = deep_replace(repo["owner"], [("/users/octocat", "/users/" + self.owner),
                                            ("github.com/octocat", "github.com/" + self.owner)])
            o["login"] = self.owner
            repo["owner"] = o
        return repo

    def run_obj(self, r, api, single=False):
        t = copy.deepcopy(self.t_run_get if single else self.t_runs_list["workflow_runs"][0])
        rid = str(r["id"])
        t = deep_replace(t, self.url_pairs(api) + [
            ("/runs/" + TEMPLATE_RUN_ID, "/runs/" + rid),
            ("/workflows/159038", "/workflows/%d" % TEMPLATE_WORKFLOW_ID),
        ])
        t["id"] = r["id"]
        t["name"] = "Build and push"
        t["head_branch"] = r["head_branch"]
        t["head_sha"] = r["head_sha"]
        t["path"] = ".github/workflows/%s@%s" % (self.workflow_file, r["head_branch"])
        t["run_number"] = r["run_number"]
        t["event"] = r["event"]
        t["display_title"] = r["display_title"]
        t["status"] = r["status"]
        t["conclusion"] = r["conclusion"]
        t["workflow_id"] = TEMPLATE_WORKFLOW_ID
        t["created_at"] = iso(r["created_at"])
        t["updated_at"] = iso(r["updated_at"])
        t["run_started_at"] = iso(r["run_started_at"])
        t["node_id"] = "WFR_stub%d" % r["id"]
        t["check_suite_id"] = 42000000000 + r["id"] % 1000000
        t["run_attempt"] = 1
        if "previous_attempt_url" in t:
            t["previous_attempt_url"] = None
        hc = t.get("head_commit") or {}
        hc["id"] = r["head_sha"]
        hc["message"] = r["display_title"]
        hc["timestamp"] = iso(r.get("commit_time", r["created_at"]))
        t["head_commit"] = hc
        t["repository"] = self.fix_repo(t.get("repository"), api)
        t["head_repository"] = self.fix_repo(t.get("head_repository"), api)
        return t

    def repo_obj(self, api):
        r = copy.deepcopy(self.t_repo)
        r = self.fix_repo(deep_replace(r, self.url_pairs(api)), api)
        r["html_url"] = "https://github.com/%s/%s" % (self.owner, self.name)
        r["default_branch"] = self.args.default_branch
        return r

    def content_obj(self, api, path):
        """The workflow file through the contents API: base64 in 60-character lines, as GitHub sends."""
        c = copy.deepcopy(self.t_content)
        b64 = base64.b64encode(self.workflow_bytes).decode("ascii")
        full = "%s/%s" % (self.owner, self.name)
        blob = hashlib.sha1(b"blob %d\0" % len(self.workflow_bytes) + self.workflow_bytes).hexdigest()
        c.update({
            "size": len(self.workflow_bytes), "name": path.rsplit("/", 1)[-1], "path": path,
            "content": "".join(b64[i:i + 60] + "\n" for i in range(0, len(b64), 60)), "sha": blob,
            "url": "%s/repos/%s/contents/%s" % (api, full, path),
            "git_url": "%s/repos/%s/git/blobs/%s" % (api, full, blob),
            "html_url": "https://github.com/%s/blob/%s/%s" % (full, self.args.default_branch, path),
            "download_url": "https://raw.githubusercontent.com/%s/%s/%s" % (full, self.args.default_branch, path),
        })
        c["_links"] = {"git": c["git_url"], "self": c["url"], "html": c["html_url"]}
        return c

    def find_sha(self, ref):
        """Index of the --sha that `ref` names (full or an unambiguous prefix of 7+), else None."""
        ref = ref.lower()
        hits = [i for i, sha in enumerate(self.shas) if len(ref) >= 7 and sha.startswith(ref)]
        return hits[0] if len(hits) == 1 else None

    def commit_obj(self, i, api):
        """The compare example's commit, as commit i of the stub history (its run's title)."""
        tpl = self.t_compare["commits"][0]
        sha = self.shas[i]
        c = deep_replace(copy.deepcopy(tpl), self.url_pairs(api) + [(tpl["sha"], sha)])
        when = iso(self.runs[i]["commit_time"]) if i < len(self.runs) else iso(self.base_time + i * self.step)
        c["node_id"] = base64.b64encode(("06:Commit%s" % sha).encode()).decode()
        c["commit"]["message"] = "Stub commit %d (%s)\n\nChanges of stub version %d." % (i + 1, sha[:7], i + 1)
        c["commit"]["author"]["date"] = when
        c["commit"]["committer"]["date"] = when
        c["commit"]["tree"]["sha"] = hashlib.sha1(("tree" + sha).encode()).hexdigest()
        c["commit"]["tree"]["url"] = c["commit"]["tree"]["url"].replace(sha, c["commit"]["tree"]["sha"])
        if i > 0:
            parent = self.shas[i - 1]
            c["parents"] = [{"url": "%s/repos/%s/%s/commits/%s" % (api, self.owner, self.name, parent), "sha": parent}]
        return c

    def compare_obj(self, api, basehead):
        """GET /repos/{o}/{r}/compare/{base}...{head} over the linear stub history."""
        base, sep, head = basehead.partition("...")
        bi, hi = self.find_sha(base), self.find_sha(head)
        if not sep or bi is None or hi is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        c = deep_replace(copy.deepcopy(self.t_compare), self.url_pairs(api))
        full = "%s/%s" % (self.owner, self.name)
        c["url"] = "%s/repos/%s/compare/%s" % (api, full, basehead)
        c["html_url"] = "https://github.com/%s/compare/%s" % (full, basehead)
        c["permalink_url"] = "https://github.com/%s/compare/%s...%s" % (full, self.shas[bi], self.shas[hi])
        c["diff_url"] = c["html_url"] + ".diff"
        c["patch_url"] = c["html_url"] + ".patch"
        c["base_commit"] = self.commit_obj(bi, api)
        c["merge_base_commit"] = self.commit_obj(min(bi, hi), api)
        ahead, behind = max(0, hi - bi), max(0, bi - hi)
        c["status"] = "ahead" if ahead else "behind" if behind else "identical"
        c["ahead_by"], c["behind_by"], c["total_commits"] = ahead, behind, ahead
        # Oldest first, as GitHub lists them (the last one is the newest).
        c["commits"] = [self.commit_obj(i, api) for i in range(bi + 1, hi + 1)]
        if not ahead:
            c["files"] = []
        return 200, c, {}

    def jobs_obj(self, r, api):
        """One job `build` for a run, its steps' states following the run's: all done when the
        run is completed, the first half done and one running while in progress, none started
        while queued."""
        j = copy.deepcopy(self.t_job)
        full = "%s/%s" % (self.owner, self.name)
        jid = 39000000000 + r["id"] % 1000000
        j = deep_replace(j, self.url_pairs(api) + [("/runs/29679449", "/runs/%d" % r["id"]),
                                                    ("399444496", str(jid))])
        j["id"] = jid
        j["run_id"] = r["id"]
        j["head_sha"] = r["head_sha"]
        j["head_branch"] = r["head_branch"]
        j["workflow_name"] = "Build and push"
        j["html_url"] = "https://github.com/%s/actions/runs/%d/job/%d" % (full, r["id"], jid)
        start = r["run_started_at"]
        steps = j["steps"]
        n = len(steps)
        if r["status"] == "completed":
            done, running = n, None
        elif r["status"] == "in_progress":
            done, running = n // 2, n // 2
        else:
            done, running = 0, None
        span = max(1.0, (r["updated_at"] - start)) / max(1, n)
        for i, step in enumerate(steps):
            if i < done:
                step["status"] = "completed"
                step["conclusion"] = r["conclusion"] if (r["status"] == "completed" and i == n - 1 and r["conclusion"] != "success") else "success"
                step["started_at"] = iso(start + i * span)
                step["completed_at"] = iso(start + (i + 1) * span)
            elif i == running:
                step["status"] = "in_progress"
                step["conclusion"] = None
                step["started_at"] = iso(start + i * span)
                step["completed_at"] = None
            else:
                step["status"] = "queued" if r["status"] != "completed" else "completed"
                step["conclusion"] = None if r["status"] != "completed" else "skipped"
                step["started_at"] = None
                step["completed_at"] = None
        j["status"] = r["status"]
        j["conclusion"] = r["conclusion"]
        j["started_at"] = iso(start) if r["status"] != "queued" else iso(r["created_at"])
        j["completed_at"] = iso(r["updated_at"]) if r["status"] == "completed" else None
        return {"total_count": 1, "jobs": [j]}

    def package_versions(self, api, kind, owner, package):
        if self.modes["packages_verbatim"]:
            return copy.deepcopy({"user": self.t_pkg_user, "org": self.t_pkg_org, "auth": self.t_pkg_auth}[kind])
        tagged, untagged = self.t_pkg_auth[0], self.t_pkg_auth[-1]
        scope = "orgs" if kind == "org" else "users"
        out = []
        for i, sha in reversed(list(enumerate(self.shas))):
            v = copy.deepcopy(tagged)
            vid = PACKAGE_VERSION_ID_BASE + i
            tags = ["main-" + sha, "main-" + sha[:7]]
            if sha == self.latest:
                tags.insert(0, "latest")
            t = self.base_time + i * self.step
            v["id"] = vid
            v["name"] = self.digests.get(sha) or "sha256:" + hashlib.sha256(("stub-manifest-" + sha).encode()).hexdigest()
            v["url"] = "%s/%s/%s/packages/container/%s/versions/%d" % (api, scope, owner, package, vid)
            v["package_html_url"] = "https://github.com/%s/%s/packages/container/package/%s" % (scope, owner, package)
            v["html_url"] = "https://github.com/%s/%s/packages/container/%s/%d" % (scope, owner, package, vid)
            v["created_at"] = iso(t)
            v["updated_at"] = iso(t)
            v["metadata"]["container"]["tags"] = tags
            out.append(v)
        v = copy.deepcopy(untagged)  # one untagged version, older than all others
        vid = PACKAGE_VERSION_ID_BASE - 1
        v["id"] = vid
        v["name"] = "sha256:" + hashlib.sha256(b"stub-manifest-untagged").hexdigest()
        v["url"] = "%s/%s/%s/packages/container/%s/versions/%d" % (api, scope, owner, package, vid)
        v["package_html_url"] = "https://github.com/%s/%s/packages/container/package/%s" % (scope, owner, package)
        v["html_url"] = "https://github.com/%s/%s/packages/container/%s/%d" % (scope, owner, package, vid)
        v["created_at"] = iso(self.base_time - self.step)
        v["updated_at"] = iso(self.base_time - self.step)
        v["metadata"]["container"]["tags"] = []
        out.append(v)
        return out


def not_found():
    return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def version_string(self):
        return "GitHub.com"
    state = None  # set in main

    def log_message(self, fmt, *args):  # silence the default access log; we log ourselves
        pass

    def do_GET(self):
        self.dispatch_request()

    def do_POST(self):
        self.dispatch_request()

    def do_PUT(self):
        self.dispatch_request()

    def do_DELETE(self):
        self.dispatch_request()

    def do_PATCH(self):
        self.dispatch_request()

    # ----- plumbing -----
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if not raw:
            return raw, None, True
        try:
            return raw, json.loads(raw.decode("utf-8")), True
        except (ValueError, UnicodeDecodeError):
            return raw, None, False

    def host_base(self):
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return "http://" + host

    def api_base(self):
        """The API's root as a client configured it: GitHub Enterprise serves it under /api/v3."""
        return self.host_base() + self.state.args.api_prefix

    def send(self, status, body, headers=None, rate=None):
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        if body is not None or status == 304:
            etag = headers.pop("ETag", None) if headers else None
            if etag is None and data:
                etag = '"%s"' % hashlib.sha256(data).hexdigest()[:40]
            if etag:
                self.send_header("ETag", etag)
        if rate is not None:
            limit, remaining, reset, used = rate
            self.send_header("X-RateLimit-Limit", str(limit))
            self.send_header("X-RateLimit-Remaining", str(remaining))
            self.send_header("X-RateLimit-Reset", str(reset))
            self.send_header("X-RateLimit-Used", str(used))
            self.send_header("X-RateLimit-Resource", "core")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-GitHub-Request-Id", "STUB:%08X" % (id(self) & 0xFFFFFFFF))
        if status not in (204, 304):
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status not in (204, 304) and data:
            self.wfile.write(data)

    def dispatch_request(self):
        try:
            self.handle_request()
        except BrokenPipeError:
            pass
        except Exception as e:  # never let the stand-in die on a bad request
            traceback.print_exc()
            try:
                self.send(500, {"message": "stand-in error: %s" % e})
            except Exception:
                pass

    def handle_request(self):
        st = self.state
        u = urlsplit(self.path)
        path = unquote(u.path)
        prefix = st.args.api_prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix):] or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        raw, body, body_ok = self.read_body()
        if path.startswith("/_standin/"):
            with st.lock:
                status, resp = self.control(path, body)
            self.send(status, resp)
            print("standin: control %s %s -> %d" % (self.command, path, status), file=sys.stderr, flush=True)
            return

        auth_header = self.headers.get("Authorization")
        authorized = bool(auth_header)
        inm = self.headers.get("If-None-Match")
        api_version = self.headers.get("X-GitHub-Api-Version")
        with st.lock:
            status, resp, headers, counted = self.route(path, query, body, body_ok, raw, authorized, auth_header)
            etag = None
            if resp is not None and status == 200 and inm:
                data = json.dumps(resp, separators=(",", ":")).encode("utf-8")
                etag = '"%s"' % hashlib.sha256(data).hexdigest()[:40]
                tokens = [t.strip() for t in inm.split(",")]
                tokens = [t[2:] if t.startswith("W/") else t for t in tokens]
                if etag in tokens or "*" in tokens:
                    status, resp, counted = 304, None, False
                    headers["ETag"] = etag
            if counted:
                st.used[authorized] += 1
            rate = st.rate(authorized)
            if headers.pop("_rate_exhausted", None):
                rate = (rate[0], 0, rate[2], rate[0])
            st.requests.append({
                "method": self.command, "path": path, "query": query, "if_none_match": inm,
                "authorized": authorized, "status": status,
                "body": body if body is not None else (raw.decode("utf-8", "replace") if raw else None),
                "raw_body": raw.decode("utf-8", "replace") if raw else None,
                "api_version": api_version, "accept": self.headers.get("Accept"),
            })
            if len(st.requests) > 20000:
                del st.requests[:10000]
        self.send(status, resp, headers, rate)
        print("standin: %s %s%s -> %d%s" % (self.command, path, ("?" + u.query) if u.query else "", status,
                                            " (auth)" if authorized else ""), file=sys.stderr, flush=True)

    # ----- failures -----
    def injected_failure(self, path, authorized):
        st = self.state
        for rule in list(st.fails):
            if rule.get("path_prefix") and not path.startswith(rule["path_prefix"]):
                continue
            if rule.get("method") and rule["method"].upper() != self.command:
                continue
            if rule.get("times") is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    st.fails.remove(rule)
            return self.error_response(int(rule["status"]), authorized)
        return None

    def error_response(self, status, authorized):
        st = self.state
        if status == 401:
            return 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, {}
        if status in (403, 429):
            who = "user ID 1" if authorized else "127.0.0.1"
            msg = "API rate limit exceeded for %s." % who
            if not authorized:
                msg += (" (But here's the good news: Authenticated requests get a higher rate limit."
                        " Check out the documentation for more details.)")
            return status, {"message": msg,
                            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}, \
                {"_rate_exhausted": True}
        if status == 404:
            return 404, copy.deepcopy(st.rec_404), {}
        if status == 422:
            return 422, copy.deepcopy(st.rec_422), {}
        if status == 500:
            return 500, {"message": "Server Error"}, {}
        if status == 502:
            return 502, {"message": "Server Error"}, {}
        if status == 503:
            return 503, {"message": "Service Unavailable", "documentation_url": DOCS, "status": "503"}, {}
        return status, {"message": "Error %d" % status, "documentation_url": DOCS, "status": str(status)}, {}

    # ----- GitHub routes -----
    def route(self, path, query, body, body_ok, raw, authorized, auth_header):
        """Returns (status, json body or None, headers, counts_against_rate_limit)."""
        st = self.state
        api = self.api_base()
        if st.args.token and auth_header is not None:
            tok = auth_header.split(None, 1)[-1]
            if tok != st.args.token:
                s, b, h = self.error_response(401, authorized)
                return s, b, h, False
        fail = self.injected_failure(path, authorized)
        if fail:
            s, b, h = fail
            return s, b, h, s not in (403, 429)
        if path == "/rate_limit":  # does not count against the limit (as on GitHub)
            limit, remaining, reset, used = st.rate(authorized)
            b = copy.deepcopy(st.t_rate)
            core = {"limit": limit, "used": used, "remaining": remaining, "reset": reset}
            b["resources"]["core"] = dict(core)
            if "rate" in b:
                b["rate"] = dict(core)
            return 200, b, {}, False
        limit, remaining, reset, used = st.rate(authorized)
        if remaining <= 0:
            s, b, h = self.error_response(403, authorized)
            return s, b, h, False

        s, b, h = self.github(path, query, body, body_ok, raw, api)
        return s, b, h, True

    def github(self, path, query, body, body_ok, raw, api):
        st = self.state
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "repos" and (
                parts[1].lower() != st.owner.lower() or parts[2].lower() != st.name.lower()):
            return not_found()
        if len(parts) == 3 and parts[0] == "repos" and self.command == "GET":
            return 200, st.repo_obj(api), {}
        if len(parts) >= 5 and parts[0] == "repos" and parts[3] == "compare" and self.command == "GET":
            return st.compare_obj(api, "/".join(parts[4:]))
        if len(parts) >= 4 and parts[0] == "repos" and parts[3] == "contents" and self.command == "GET":
            wanted = "/".join(parts[4:])
            if wanted != ".github/workflows/%s" % st.workflow_file:
                return not_found()
            return 200, st.content_obj(api, wanted), {}
        if len(parts) >= 4 and parts[0] == "repos" and parts[3] == "deployments":
            return self.deployments_route(parts[4:], query, body, body_ok, api)
        # /repos/{o}/{r}/actions/...
        if len(parts) >= 4 and parts[0] == "repos" and parts[3] == "actions":
            if parts[1].lower() != st.owner.lower() or parts[2].lower() != st.name.lower():
                return not_found()
            rest = parts[4:]
            if rest == ["runs"] and self.command == "GET":
                return self.list_runs(query, api)
            if len(rest) == 2 and rest[0] == "runs" and self.command == "GET":
                r = st.find_run(rest[1])
                if not r:
                    return not_found()
                return 200, st.run_obj(r, api, single=True), {}
            if len(rest) == 3 and rest[0] == "runs" and rest[2] == "jobs" and self.command == "GET":
                r = st.find_run(rest[1])
                if not r:
                    return not_found()
                return 200, st.jobs_obj(r, api), {}
            if rest == ["workflows"] and self.command == "GET":
                wl = copy.deepcopy(st.t_workflows)
                others = [deep_replace(w, st.url_pairs(api)) for w in wl["workflows"][1:]]
                wl["workflows"] = [st.workflow_obj(api)] + others
                wl["total_count"] = len(wl["workflows"])
                return 200, wl, {}
            if len(rest) >= 2 and rest[0] == "workflows":
                wf = rest[1]
                if wf != st.workflow_file and wf != str(TEMPLATE_WORKFLOW_ID):
                    return not_found()
                if len(rest) == 2 and self.command == "GET":
                    return 200, st.workflow_obj(api), {}
                if rest[2:] == ["runs"] and self.command == "GET":
                    return self.list_runs(query, api)
                if rest[2:] == ["dispatches"] and self.command == "POST":
                    return self.dispatch(body, body_ok, raw, api)
            return not_found()
        # packages: /users/{u}/packages/container/{name}/versions, /orgs/{org}/..., /user/packages/...
        m = re.fullmatch(r"/(users|orgs)/([^/]+)/packages/container/([^/]+)/versions", path)
        m2 = re.fullmatch(r"/user/packages/container/([^/]+)/versions", path)
        m3 = re.fullmatch(r"/organizations/(\d+)/packages/container/([^/]+)/versions", path)
        if m3 and self.command == "GET":
            if int(m3.group(1)) != ORG_ID or not st.modes["ghcr_org"]:
                return not_found()
            m = re.fullmatch(r"/(orgs)/([^/]+)/packages/container/([^/]+)/versions",
                             "/orgs/%s/packages/container/%s/versions" % (st.owner, m3.group(2)))
        if (m or m2) and self.command == "GET":
            if m:
                kind = "user" if m.group(1) == "users" else "org"
                owner, package = m.group(2), m.group(3)
                if owner.lower() != st.owner.lower() or (kind == "user" and st.modes["ghcr_org"]):
                    return 404, {"message": "Package not found.", "documentation_url": DOCS, "status": "404"}, {}
            else:
                if not self.headers.get("Authorization"):
                    return 401, {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}, {}
                kind, owner, package = "auth", st.owner, m2.group(1)
            if package.lower() != st.name.lower():
                return 404, {"message": "Package not found.", "documentation_url": DOCS, "status": "404"}, {}
            items = st.package_versions(api, kind, owner, package)
            link_base, link_path = api, path
            if kind == "org" and st.modes["ghcr_org"]:
                # As GHCR answers an organisation's versions: next pages by the org's id, on
                # the host's root (not under an Enterprise /api/v3 prefix).
                link_base = self.host_base()
                link_path = "/organizations/%d/packages/container/%s/versions" % (ORG_ID, package)
            if st.modes["packages_link_base"]:
                link_base = st.modes["packages_link_base"]
            page_items, links = self.paginate(items, query, link_base, link_path)
            return 200, page_items, links
        return not_found()

    # ----- deployments (payloads: deployment-create-response-201.json and
    # deployment-status-create-response-201.json, the same shapes the list endpoints return) -----
    STATUS_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")

    def deployment_obj(self, d):
        return {k: v for k, v in d.items() if not k.startswith("_")}

    def deployments_route(self, rest, query, body, body_ok, api):
        st = self.state
        full = "%s/%s" % (st.owner, st.name)
        repo_url = "%s/repos/%s" % (api, full)
        base_path = "/repos/%s/deployments" % full
        if not body_ok:
            return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}, {}
        body = body if isinstance(body, dict) else {}
        now = iso(time.time())
        if rest == [] and self.command == "POST":
            ref = body.get("ref")
            if not isinstance(ref, str) or not ref:
                return 422, {"message": "Invalid request.\n\n\"ref\" wasn't supplied.",
                             "documentation_url": DOCS, "status": "422"}, {}
            if not re.fullmatch(r"[0-9a-f]{40}", ref.lower()):
                return 422, {"message": "No ref found for: %s" % ref, "documentation_url": DOCS, "status": "422"}, {}
            d = copy.deepcopy(st.t_deployment)
            did = len(st.deployments) + 1
            env = body.get("environment", "production")
            d.update({
                "url": "%s/deployments/%d" % (repo_url, did), "id": did, "sha": ref.lower(), "ref": ref,
                "task": body.get("task", "deploy"), "payload": body.get("payload", {}),
                "original_environment": env, "environment": env,
                "description": body.get("description"), "created_at": now, "updated_at": now,
                "statuses_url": "%s/deployments/%d/statuses" % (repo_url, did), "repository_url": repo_url,
                "transient_environment": bool(body.get("transient_environment", False)),
                "production_environment": bool(body.get("production_environment", env == "production")),
            })
            d["_statuses"] = []
            st.deployments.append(d)
            return 201, self.deployment_obj(d), {}
        if rest == [] and self.command == "GET":
            items = [self.deployment_obj(d) for d in reversed(st.deployments)
                     if all(query.get(k) in (None, "", "none") or str(d.get(k)) == query[k]
                            for k in ("sha", "ref", "task", "environment"))]
            page_items, links = self.paginate(items, query, api, base_path)
            return 200, page_items, links
        if not rest or not rest[0].isdigit() or not (1 <= int(rest[0]) <= len(st.deployments)):
            return not_found()
        d = st.deployments[int(rest[0]) - 1]
        if len(rest) == 1 and self.command == "GET":
            return 200, self.deployment_obj(d), {}
        if rest[1:] == ["statuses"] and self.command == "POST":
            state = body.get("state")
            if state not in self.STATUS_STATES:
                return 422, {"message": "Validation Failed", "errors": [
                    {"resource": "DeploymentStatus", "code": "invalid", "field": "state"}],
                    "documentation_url": DOCS, "status": "422"}, {}
            s = copy.deepcopy(st.t_deployment_status)
            sid = sum(len(x["_statuses"]) for x in st.deployments) + 1
            log_url = body.get("log_url", body.get("target_url", ""))
            s.update({
                "url": "%s/deployments/%d/statuses/%d" % (repo_url, d["id"], sid), "id": sid, "state": state,
                "description": body.get("description", ""),
                "environment": body.get("environment") or (d["_statuses"][-1]["environment"] if d["_statuses"] else d["environment"]),
                "target_url": log_url, "log_url": log_url, "environment_url": body.get("environment_url", ""),
                "created_at": now, "updated_at": now,
                "deployment_url": d["url"], "repository_url": repo_url,
            })
            d["_statuses"].append(s)
            return 201, s, {"Location": s["url"]}
        if rest[1:] == ["statuses"] and self.command == "GET":
            page_items, links = self.paginate(list(reversed(d["_statuses"])), query, api,
                                              "%s/%d/statuses" % (base_path, d["id"]))
            return 200, page_items, links
        return not_found()

    def paginate(self, items, query, api, path):
        try:
            per_page = max(1, min(100, int(query.get("per_page", 30))))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            per_page, page = 30, 1
        last = max(1, (len(items) + per_page - 1) // per_page)
        out = items[(page - 1) * per_page: page * per_page]
        links = []

        def link(p, rel):
            q = dict(query)
            q["per_page"] = str(per_page)
            q["page"] = str(p)
            links.append('<%s%s?%s>; rel="%s"' % (api, path, urlencode(q), rel))

        if page > 1:
            link(page - 1, "prev")
        if page < last:
            link(page + 1, "next")
            link(last, "last")
        if page > 1:
            link(1, "first")
        return out, ({"Link": ", ".join(links)} if links else {})

    def list_runs(self, query, api):
        st = self.state
        runs = sorted(st.runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        if query.get("event"):
            runs = [r for r in runs if r["event"] == query["event"]]
        if query.get("branch"):
            runs = [r for r in runs if r["head_branch"] == query["branch"]]
        if query.get("status"):
            runs = [r for r in runs if query["status"] in (r["status"], r["conclusion"])]
        if query.get("head_sha"):
            runs = [r for r in runs if r["head_sha"] == query["head_sha"].lower()]
        if query.get("created"):
            runs = [r for r in runs if created_filter(query["created"], iso(r["created_at"]))]
        total = len(runs)
        page_runs, links = self.paginate(runs, query, api, urlsplit(self.path).path)
        return 200, {"total_count": total, "workflow_runs": [st.run_obj(r, api) for r in page_runs]}, links

    def dispatch(self, body, body_ok, raw, api):
        st = self.state
        doc = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
        if not body_ok or (raw and not isinstance(body, dict)):
            return 400, {"message": "Problems parsing JSON", "documentation_url": doc, "status": "400"}, {}
        body = body or {}
        ref = body.get("ref")
        if not ref:
            return 422, {"message": "Invalid request.\n\n\"ref\" wasn't supplied.", "documentation_url": doc,
                         "status": "422"}, {}
        branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        if branch not in st.args.branch and branch.lower() not in st.shas:
            return 422, {"message": "No ref found for: %s" % ref, "documentation_url": doc, "status": "422"}, {}
        inputs = body.get("inputs")
        if inputs is not None and not isinstance(inputs, dict):
            return 422, {"message": "Invalid request.\n\nFor 'properties/inputs', %s is not an object." % json.dumps(inputs),
                         "documentation_url": doc, "status": "422"}, {}
        for name in st.modes["required_inputs"]:
            if name not in (inputs or {}):
                return 422, {"message": "Required input '%s' not provided" % name, "documentation_url": doc,
                             "status": "422"}, {}
        now = time.time()
        newest = st.newest_run()
        rid = max([r["id"] for r in st.runs] + [RUN_ID_BASE - 1]) + 1
        num = max([r["run_number"] for r in st.runs] + [RUN_NUMBER_BASE - 1]) + 1
        head = st.shas[-1] if st.shas else (newest["head_sha"] if newest else "0" * 40)
        done = st.modes["dispatch_conclusion"]
        st.runs.append({
            "id": rid, "run_number": num, "head_sha": head, "head_branch": branch,
            "event": "workflow_dispatch", "status": "completed" if done else "queued", "conclusion": done,
            "created_at": now, "updated_at": now, "run_started_at": now,
            "display_title": "Build and push", "commit_time": now,
        })
        api_version = self.headers.get("X-GitHub-Api-Version") or ""
        always_200 = api_version >= API_VERSION_ALWAYS_200
        if always_200 or (body.get("return_run_details") is True and not st.modes["dispatch_204"]):
            b = copy.deepcopy(st.t_dispatch)
            b["workflow_run_id"] = rid
            b["run_url"] = "%s/repos/%s/%s/actions/runs/%d" % (api, st.owner, st.name, rid)
            b["html_url"] = "https://github.com/%s/%s/actions/runs/%d" % (st.owner, st.name, rid)
            return 200, b, {}
        return 204, None, {}

    # ----- control -----
    def control(self, path, body):
        st = self.state
        body = body if isinstance(body, dict) else {}
        if path == "/_standin/requests" and self.command == "GET":
            return 200, {"count": len(st.requests), "requests": st.requests}
        if path == "/_standin/runs" and self.command == "GET":
            return 200, [dict(r, created_at=iso(r["created_at"]), updated_at=iso(r["updated_at"]),
                              run_started_at=iso(r["run_started_at"]), commit_time=iso(r["commit_time"]))
                         for r in st.runs]
        if path == "/_standin/deployments" and self.command == "GET":
            return 200, [dict(self.deployment_obj(d), statuses=d["_statuses"]) for d in st.deployments]
        if self.command != "POST":
            return 404, {"message": "unknown control endpoint"}
        if path == "/_standin/reset":
            st.reset()
            return 200, {"ok": True}
        if path == "/_standin/fail":
            if body.get("clear") or not body.get("status"):
                st.fails = []
            else:
                rule = {"status": int(body["status"]), "times": body.get("times"),
                        "path_prefix": body.get("path_prefix"), "method": body.get("method")}
                st.fails.insert(0, rule)
            return 200, {"fails": st.fails}
        if path == "/_standin/mode":
            if "packages_link_base" in body:
                st.modes["packages_link_base"] = body["packages_link_base"] or None
            for k in ("dispatch_204", "packages_verbatim", "ghcr_org"):
                if k in body:
                    st.modes[k] = bool(body[k])
            if "dispatch_conclusion" in body:
                st.modes["dispatch_conclusion"] = body["dispatch_conclusion"] or None
            if "required_inputs" in body:
                st.modes["required_inputs"] = [str(x) for x in body["required_inputs"] or []]
            if "rate_limit" in body:
                st.limits = {False: int(body["rate_limit"]), True: int(body["rate_limit"])}
                st.reset_rate()
            if "rate_limit_auth" in body:
                st.limits[True] = int(body["rate_limit_auth"])
                st.reset_rate()
            if "rate_limit_unauth" in body:
                st.limits[False] = int(body["rate_limit_unauth"])
                st.reset_rate()
            return 200, dict(st.modes, rate_limit_auth=st.limits[True], rate_limit_unauth=st.limits[False])
        m = re.fullmatch(r"/_standin/runs/([^/]+)/(complete|in_progress)", path)
        if m:
            r = st.find_run(m.group(1))
            if not r:
                return 404, {"message": "no such run"}
            now = time.time()
            if m.group(2) == "complete":
                r["status"] = "completed"
                r["conclusion"] = body.get("conclusion", "success")
                if body.get("head_sha"):
                    r["head_sha"] = body["head_sha"].lower()
            else:
                r["status"] = "in_progress"
                r["conclusion"] = None
            r["updated_at"] = max(now, r["created_at"])
            return 200, {"id": r["id"], "status": r["status"], "conclusion": r["conclusion"],
                         "head_sha": r["head_sha"]}
        return 404, {"message": "unknown control endpoint"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--fixtures", default=os.path.join(here, "..", "tests", "fixtures", "github"))
    p.add_argument("--sha", action="append", default=[], help="commit SHA, oldest first (repeat)")
    p.add_argument("--latest", help="SHA whose package version carries the `latest` tag (default: newest)")
    p.add_argument("--digest", action="append", default=[], help="SHA=sha256:... package version name (repeat)")
    p.add_argument("--repo", default="arthurlee116/english-listening-trainer")
    p.add_argument("--workflow", default="build-and-push.yml")
    p.add_argument("--workflow-file", default=os.path.join(here, "..", ".github", "workflows", "build-and-push.yml"),
                   help="file served as the workflow through the contents API")
    p.add_argument("--default-branch", default="main")
    p.add_argument("--api-prefix", default="", help="serve the API under this path too, as GitHub "
                   "Enterprise does (/api/v3); payload URLs then carry it")
    p.add_argument("--branch", action="append", default=None, help="refs dispatch accepts (default: main)")
    p.add_argument("--token", help="only this token is valid (others get 401); default: any")
    p.add_argument("--rate-limit-unauth", type=int, default=60)
    p.add_argument("--rate-limit-auth", type=int, default=5000)
    p.add_argument("--base-time", default="2026-11-19T08:00:00Z", help="image created time of the first SHA")
    p.add_argument("--step-hours", type=float, default=12.0, help="hours between consecutive SHAs")
    p.add_argument("--new-session", action="store_true",
                   help="start a new session (as setsid would, without forking), so the "
                        "terminal's signals do not reach a stand-in started in the background")
    args = p.parse_args()
    if args.new_session:
        try:
            os.setsid()
        except OSError:
            pass  # already a process group leader: its own session is not needed then
        # A background service must not keep its launcher's files open: an inherited
        # `flock` descriptor would hold that lock for as long as the stand-in runs.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    if args.branch is None:
        args.branch = ["main"]
    if "/" not in args.repo:
        p.error("--repo must be owner/name")
    for s in args.sha:
        if not re.fullmatch(r"[0-9a-fA-F]{40}", s):
            p.error("--sha must be 40 hex digits: %r" % s)
    Handler.state = State(args)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("standin: listening on http://%s:%d (repo %s, workflow %s, %d shas)"
          % (args.host, port, args.repo, args.workflow, len(args.sha)), file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
