"""A faithful local stand-in for the parts of the kube-apiserver the agent uses (there is
no kube-apiserver package on Debian). It enforces the real API's contract for them:

- TLS with a CA the test generates (openssl CLI); a bearer token from an accepted set, or a
  client certificate signed by the CA (401 Unauthorized otherwise, as a Status object);
- GET /api/v1/nodes/{name} (404 NotFound for unknown nodes); a Node carries the labels the
  kubelet gives it (kubernetes.io/hostname, /os, /arch and their beta. twins) unless the test
  names others;
- PATCH /api/v1/nodes/{name} as application/merge-patch+json (RFC 7386) or
  application/strategic-merge-patch+json (the same for a map of strings) of metadata.labels:
  merged per key, null deleting, labels not named kept; a label value that is neither a string
  nor null is 400 BadRequest (the API cannot decode it); the resulting labels are validated
  with the real syntax (key: optional DNS-subdomain prefix of at most 253 characters and '/',
  name of 1..63 of [A-Za-z0-9-_.] alphanumeric at both ends; value empty or the same, at most
  63), 422 Invalid naming the field, the key and the rule otherwise; a patch outside
  metadata.labels is 422 here (the agent sends none), json-patch and apply-patch are 415 here
  (the real API takes them; the agent uses neither); resourceVersion moves only when
  something changed;
- PATCH /api/v1/nodes/{name}/status only as application/strategic-merge-patch+json (415
  UnsupportedMediaType for merge-patch+json, json-patch+json or anything else), with the
  strategic-merge semantics of status.conditions: a list merged on `type` (a condition not in
  the patch survives, one in it replaces the fields it carries, `$patch: delete` removes it);
  a patch may only touch `status`; condition status must be True/False/Unknown and times
  RFC 3339; resourceVersion moves on every write;
- POST /api/v1/namespaces/{ns}/events (409 AlreadyExists for a taken name, 400 BadRequest when
  metadata.namespace is not the request's, 422 without involvedObject kind/name or reason) and
  PATCH .../events/{name} (404 when missing); events get a uid and a resourceVersion;
- RBAC: paths made forbidden answer 403 Forbidden (an entry is a path regex, any method, or a
  (method, path regex) pair: `patch nodes` missing while `get nodes` is granted);
- fault injection: the next N requests answer 500, 429 with Retry-After, 409, slowly, or are
  dropped without an answer; an outage mode drops every request; hold() keeps the next
  matching requests unanswered for a while (a slow apiserver or etcd), and stop()/start()
  take the whole server away (listening socket and open connections closed) and bring it
  back on the same port with its state, as a restarted kube-apiserver;
- a request log for the tests."""
import contextlib
import copy
import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import shutil
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import need_binary, need_root

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# Kubernetes label syntax (apimachinery's validation of metadata.labels), written here from the
# rules, not from the agent's code, so the agent's labels are checked by a second reading.
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
NAME_RULE = "letters, digits, '-', '_' and '.' only, a letter or digit at both ends"


def label_key_errors(key):
    """The problems of a label key, [] when it is valid."""
    parts = key.split("/")
    if len(parts) > 2:
        return ["a key is [prefix/]name: more than one '/'"]
    errs = []
    if len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part: empty")
        elif len(prefix) > 253:
            errs.append("prefix part: %d characters, at most 253" % len(prefix))
        elif not DNS_SUBDOMAIN.fullmatch(prefix):
            errs.append("prefix part: not a lower-case DNS subdomain")
    else:
        name = parts[0]
    if not name:
        errs.append("name part: empty")
    elif len(name) > 63:
        errs.append("name part: %d characters, at most 63" % len(name))
    elif not LABEL_NAME.fullmatch(name):
        errs.append("name part: " + NAME_RULE)
    return errs


def label_value_errors(value):
    if value == "":
        return []
    if len(value) > 63:
        return ["value: %d characters, at most 63" % len(value)]
    if not LABEL_NAME.fullmatch(value):
        return ["value: empty, or " + NAME_RULE]
    return []


class PkiTestCase(unittest.TestCase):
    """A test class with one PKI (make_pki, with the openssl CLI) for all its tests."""

    @classmethod
    def setUpClass(cls):
        need_binary("openssl")
        cls.pki_dir = tempfile.mkdtemp(prefix="nodehealth-test-pki-")
        cls.pki = make_pki(cls.pki_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_dir, ignore_errors=True)


class PkiWorkTestCase(PkiTestCase):
    """A PkiTestCase whose tests run as root, each in a fresh work directory (self.work, prefix
    work_prefix), removed after the test."""
    work_prefix = "nodehealth-test-kube-"

    def setUp(self):
        need_root()
        self.work = tempfile.mkdtemp(prefix=self.work_prefix)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)


def make_pki(d):
    """CA, server certificate for 127.0.0.1/localhost, and a client certificate (CN
    system:node:test), all with the openssl CLI. Returns a dict of paths."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    p = {k: os.path.join(d, k) for k in ("ca.key", "ca.crt", "server.key", "server.crt",
                                         "client.key", "client.crt", "ext.cnf")}
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=nodehealth-test-ca", "-keyout", p["ca.key"], "-out", p["ca.crt"])
    with open(p["ext.cnf"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who, cn in (("server", "localhost"), ("client", "system:node:test")):
        csr = os.path.join(d, who + ".csr")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
            "-keyout", p[who + ".key"], "-out", csr)
        extra = ["-extfile", p["ext.cnf"]] if who == "server" else []
        run("x509", "-req", "-in", csr, "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
            "-CAcreateserial", "-days", "2", "-out", p[who + ".crt"], *extra)
    return p


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class StandIn:
    def __init__(self, pki, tokens=("test-token",)):
        self.pki = pki
        self.tokens = set(tokens)
        self.nodes = {}
        self.events = {}  # (ns, name) -> event
        self.log = []  # dicts: time, method, path, content_type, body, code, auth
        self.faults = []  # list of [kind, remaining]
        self.outage = False
        self.forbidden = set()  # path regexes or (method, path regex): 403, as missing RBAC
        self.holds = []  # [seconds, method, path regex, remaining]
        self.released = threading.Event()  # set by stop(): held requests go on at once
        self.conns = set()  # open client connections, closed by stop()
        self.lock = threading.Lock()
        self.rv = 1000
        self.server = None
        self.port = 0
        self._listen()
        self.url = "https://127.0.0.1:%d" % self.port

    def _listen(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki["server.crt"], self.pki["server.key"])
        ctx.load_verify_locations(self.pki["ca.crt"])
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        """The server goes away: the listening socket is closed (connections are refused) and
        so is every open connection; held requests are let go. The state stays for start()."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.released.set()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        self.server = None

    def start(self):
        """Back on the same port, with the same nodes and events (etcd kept them)."""
        assert self.server is None
        self.released.clear()
        self._listen()
        self.thread.start()

    # ------------------------------------------------------------ test API
    def add_node(self, name, conditions=(), labels=None):
        if labels is None:  # what the kubelet registers a Node with
            labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                      "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                      "beta.kubernetes.io/arch": "amd64"}
        with self.lock:
            self.rv += 1
            self.nodes[name] = {"kind": "Node", "apiVersion": "v1",
                                "metadata": {"name": name, "uid": "uid-" + name,
                                             "resourceVersion": str(self.rv),
                                             "labels": dict(labels)},
                                "status": {"conditions": copy.deepcopy(list(conditions))}}

    def conditions(self, name):
        with self.lock:
            return {c["type"]: dict(c) for c in self.nodes[name]["status"]["conditions"]}

    def labels(self, name):
        with self.lock:
            return dict(self.nodes[name]["metadata"].get("labels") or {})

    def set_labels(self, name, labels):
        """Someone else (kubectl label, another controller) rewrites the Node's labels."""
        with self.lock:
            self.rv += 1
            self.nodes[name]["metadata"]["labels"] = dict(labels)
            self.nodes[name]["metadata"]["resourceVersion"] = str(self.rv)

    def rotate_token(self, token):
        """Token rotation: from now on only `token` is accepted (the old one gets 401)."""
        with self.lock:
            self.tokens = {token}

    def inject(self, kind, count=1):
        with self.lock:
            self.faults.append([kind, count])

    def hold(self, seconds, method="PATCH", path_re=r"/status$", count=1):
        """The next `count` requests matching method and path wait `seconds` before they are
        served (then applied and answered as usual, if the client is still there)."""
        with self.lock:
            self.holds.append([seconds, method, path_re, count])

    def in_flight(self, method=None, path_re=None):
        """Requests received and not answered yet."""
        return [r for r in self.requests(method, path_re) if r["code"] is None]

    def requests(self, method=None, path_re=None, since=0.0):
        with self.lock:
            return [r for r in self.log if (method is None or r["method"] == method) and
                    (path_re is None or re.search(path_re, r["path"])) and r["time"] >= since]

    def kubeconfig(self, path, token=None, client_cert=False, token_file=None, host="127.0.0.1"):
        def b64(p):
            import base64
            with open(p, "rb") as f:
                return base64.b64encode(f.read()).decode()
        user = {}
        if token:
            user["token"] = token
        if token_file:
            user["tokenFile"] = token_file
        if client_cert:
            user["client-certificate-data"] = b64(self.pki["client.crt"])
            user["client-key-data"] = b64(self.pki["client.key"])
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
               "clusters": [{"name": "standin", "cluster": {
                   "server": "https://%s:%d" % (host, self.port),
                   "certificate-authority-data": b64(self.pki["ca.crt"])}}],
               "users": [{"name": "agent", "user": user}],
               "contexts": [{"name": "test", "context": {"cluster": "standin", "user": "agent"}}]}
        with open(path, "w") as f:
            json.dump(doc, f)  # JSON is YAML
        return path

    # ------------------------------------------------------------ the API
    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with standin.lock:
                    standin.conns.add(self.connection)

            def finish(self):
                with contextlib.suppress(OSError):
                    super().finish()
                with standin.lock:
                    standin.conns.discard(self.connection)

            def handle(self):
                with contextlib.suppress(OSError):  # a client that left, or stop()
                    super().handle()

            def _reply(self, code, obj, headers=()):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
                return code

            def _authorized(self):
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Bearer ") and auth[7:] in standin.tokens:
                    return "token:" + auth[7:]
                cert = self.connection.getpeercert()
                if cert:
                    return "cert"
                return None

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                entry = {"time": time.monotonic(), "method": method, "path": self.path, "bytes": len(raw),
                         "content_type": self.headers.get("Content-Type", ""), "body": None,
                         "code": None, "auth": None}
                try:
                    entry["body"] = json.loads(raw) if raw else None
                except ValueError:
                    entry["body"] = raw.decode(errors="replace")
                with standin.lock:
                    standin.log.append(entry)
                    held = None
                    for h in standin.holds:
                        if h[1] == method and re.search(h[2], self.path):
                            held = h[0]
                            h[3] -= 1
                            if h[3] <= 0:
                                standin.holds.remove(h)
                            break
                if held:
                    entry["held"] = held
                    standin.released.wait(held)
                with standin.lock:
                    fault = None
                    if standin.outage:
                        fault = "drop"
                    elif standin.faults:
                        fault = standin.faults[0][0]
                        standin.faults[0][1] -= 1
                        if standin.faults[0][1] <= 0:
                            standin.faults.pop(0)
                if fault == "drop":
                    entry["code"] = "dropped"
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                if fault == "slow":
                    time.sleep(3)
                elif fault in ("500", "409"):
                    entry["code"] = int(fault)
                    return self._reply(int(fault), status_obj(int(fault), "InternalError" if fault == "500" else "Conflict", "injected"))
                elif fault == "429":
                    entry["code"] = 429
                    return self._reply(429, status_obj(429, "TooManyRequests", "injected"),
                                       [("Retry-After", "1")])
                entry["auth"] = self._authorized()
                if not entry["auth"]:
                    entry["code"] = 401
                    return self._reply(401, status_obj(401, "Unauthorized", "Unauthorized"))
                if any(re.search(f[1], self.path) and f[0] == method if isinstance(f, tuple)
                       else re.search(f, self.path) for f in standin.forbidden):
                    entry["code"] = 403
                    return self._reply(403, status_obj(
                        403, "Forbidden", 'User "system:serviceaccount:nodehealth:nodehealth" '
                        'cannot %s resource at %s' % (method.lower(), self.path)))
                code, obj = standin._serve(method, self.path, entry["content_type"], entry["body"])
                entry["code"] = code
                entry["answered"] = time.monotonic()
                self._reply(code, obj)

            def do_GET(self):
                self._handle("GET")

            def do_PATCH(self):
                self._handle("PATCH")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

        return Handler

    def _serve(self, method, path, ctype, body):
        with self.lock:
            m = re.fullmatch(r"/api/v1/nodes/([^/]+)(/status)?", path)
            if m:
                node = self.nodes.get(m.group(1))
                if node is None:
                    return 404, status_obj(404, "NotFound", 'nodes "%s" not found' % m.group(1))
                if method == "GET" and not m.group(2):
                    return 200, copy.deepcopy(node)
                if method == "PATCH" and m.group(2):
                    return self._patch_status(node, ctype, body)
                if method == "PATCH":
                    return self._patch_node(node, ctype, body)
                return 405, status_obj(405, "MethodNotAllowed", "method not allowed")
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/events(?:/([^/]+))?", path)
            if m:
                return self._events(method, m.group(1), m.group(2), ctype, body)
            return 404, status_obj(404, "NotFound", "the server could not find the requested resource")

    def _patch_status(self, node, ctype, body):
        if ctype.split(";")[0].strip() != SMP:
            return 415, status_obj(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted "
                                   "media types include: application/json-patch+json, "
                                   "application/merge-patch+json, application/apply-patch+yaml, "
                                   "application/strategic-merge-patch+json")
        if not isinstance(body, dict) or set(body) != {"status"} or \
                not isinstance(body["status"], dict) or set(body["status"]) - {"conditions"}:
            return 422, status_obj(422, "Invalid", "this stand-in takes status.conditions only")
        conds = node["status"]["conditions"]
        for c in body["status"].get("conditions", []):
            t = c.get("type")
            if not t:
                return 422, status_obj(422, "Invalid", "status.conditions: type is required")
            if c.get("$patch") == "delete":
                conds[:] = [x for x in conds if x["type"] != t]
                continue
            if c.get("status") not in ("True", "False", "Unknown"):
                return 422, status_obj(422, "Invalid", "status.conditions[%s].status: %r" % (t, c.get("status")))
            for k in ("lastHeartbeatTime", "lastTransitionTime"):
                if k in c and not RFC3339.match(c[k]):
                    return 422, status_obj(422, "Invalid", "%s: not RFC 3339: %r" % (k, c[k]))
            for x in conds:
                if x["type"] == t:
                    x.update(c)
                    break
            else:
                conds.append(dict(c))
        self.rv += 1
        node["metadata"]["resourceVersion"] = str(self.rv)
        return 200, copy.deepcopy(node)

    def _patch_node(self, node, ctype, body):
        ct = ctype.split(";")[0].strip()
        if ct not in (MERGE, SMP):
            return 415, status_obj(415, "UnsupportedMediaType",
                                   "this stand-in takes application/merge-patch+json and "
                                   "application/strategic-merge-patch+json on nodes, got %r" % ct)
        if not isinstance(body, dict):
            return 400, status_obj(400, "BadRequest", "the patch is not a JSON object")
        meta = body.get("metadata")
        if set(body) != {"metadata"} or not isinstance(meta, dict) or set(meta) != {"labels"}:
            return 422, status_obj(422, "Invalid", "this stand-in takes metadata.labels only")
        patch = meta["labels"]
        labels = dict(node["metadata"].get("labels") or {})
        if patch is None:
            labels = {}
        elif not isinstance(patch, dict):
            return 400, status_obj(400, "BadRequest", "json: cannot unmarshal %s into Go struct "
                                   "field ObjectMeta.metadata.labels of type map[string]string"
                                   % type(patch).__name__)
        else:
            for k, v in patch.items():
                if v is None:
                    labels.pop(k, None)
                elif isinstance(v, str):
                    labels[k] = v
                else:
                    return 400, status_obj(400, "BadRequest", "json: cannot unmarshal %s into Go "
                                           "struct field ObjectMeta.metadata.labels of type string"
                                           % type(v).__name__)
        causes = []
        for k, v in sorted(labels.items()):
            causes += [("metadata.labels", k, e) for e in label_key_errors(k)]
            causes += [("metadata.labels", v, e) for e in label_value_errors(v)]
        if causes:
            name = node["metadata"]["name"]
            obj = status_obj(422, "Invalid", 'Node "%s" is invalid: %s' % (name, ", ".join(
                '%s: Invalid value: "%s": %s' % c for c in causes)))
            obj["details"] = {"name": name, "kind": "nodes", "causes": [
                {"reason": "FieldValueInvalid", "message": 'Invalid value: "%s": %s' % (v, e),
                 "field": f} for f, v, e in causes]}
            return 422, obj
        if labels != node["metadata"].get("labels"):
            node["metadata"]["labels"] = labels
            self.rv += 1
            node["metadata"]["resourceVersion"] = str(self.rv)
        return 200, copy.deepcopy(node)

    def _events(self, method, ns, name, ctype, body):
        if method == "POST" and name is None:
            if not isinstance(body, dict):
                return 400, status_obj(400, "BadRequest", "not a JSON object")
            meta = body.get("metadata") or {}
            if meta.get("namespace", ns) != ns:
                return 400, status_obj(400, "BadRequest", "the namespace of the provided object "
                                       "does not match the namespace sent on the request")
            obj = body.get("involvedObject") or {}
            if not obj.get("kind") or not obj.get("name") or not body.get("reason"):
                return 422, status_obj(422, "Invalid",
                                       "involvedObject.kind, involvedObject.name and reason are required")
            ename = meta.get("name")
            if not ename:
                return 422, status_obj(422, "Invalid", "metadata.name is required")
            if (ns, ename) in self.events:
                return 409, status_obj(409, "AlreadyExists", 'events "%s" already exists' % ename)
            self.rv += 1
            ev = copy.deepcopy(body)
            ev["metadata"] = dict(meta, namespace=ns, uid="uid-event-%d" % self.rv,
                                  resourceVersion=str(self.rv))
            self.events[(ns, ename)] = ev
            return 201, copy.deepcopy(ev)
        if method == "PATCH" and name is not None:
            if ctype.split(";")[0].strip() not in (SMP, "application/merge-patch+json"):
                return 415, status_obj(415, "UnsupportedMediaType", "unknown format")
            ev = self.events.get((ns, name))
            if ev is None:
                return 404, status_obj(404, "NotFound", 'events "%s" not found' % name)
            if not isinstance(body, dict) or "metadata" in body and \
                    body["metadata"].get("name", name) != name:
                return 422, status_obj(422, "Invalid", "a patch may not rename the event")
            ev.update({k: v for k, v in body.items() if k != "metadata"})
            self.rv += 1
            ev["metadata"]["resourceVersion"] = str(self.rv)
            return 200, copy.deepcopy(ev)
        return 405, status_obj(405, "MethodNotAllowed", "method not allowed")


def now_rfc3339(delta_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_s)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
