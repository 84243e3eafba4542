// check-deploy.mjs REPO -- validate docker/k8s and docker/compose.yaml.
//
// Run by tests/container.sh from a folder where `npm ci` installed this
// folder's package.json. For every manifest in docker/k8s (each one listed in
// kustomization.yaml):
//   - the Kubernetes JSON schema of its apiVersion/kind (kubernetes-models,
//     generated from the Kubernetes OpenAPI spec): types, required fields,
//     enums, formats;
//   - unknown fields (a typo such as `readinesProbe` is silently ignored by
//     the schema and by a lenient API server): every document is type-checked
//     by tsc against the same package's TypeScript interfaces;
//   - what this project needs of them: probes on /healthz and /readyz, the
//     drain fitting the termination grace period, non-root and read-only,
//     resources, selectors that match, the user and port of the Dockerfile.
// Then the same project checks on docker/compose.yaml and
// docker/prometheus.yml (their schemas are checked by dclint and promtool).
// Prints "ok: ..." and "FAIL: ..." lines; exits 1 on any failure.
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import YAML from "yaml";

const repo = path.resolve(process.argv[2] || "../..");
const here = path.dirname(new URL(import.meta.url).pathname);
const k8sDir = path.join(repo, "docker", "k8s");
let failures = 0;
const fail = (msg) => { console.log("FAIL: " + msg); failures++; };
const ok = (msg) => console.log("ok: " + msg);
const check = (cond, good, bad) => (cond ? ok(good) : fail(bad ?? good));

// --- what the Dockerfile promises ------------------------------------------

const dockerfile = readFileSync(path.join(repo, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
const runtime = dockerfile.split(/^FROM /m).pop();
const dfUser = (runtime.match(/^USER\s+(\d+)(?::(\d+))?/m) || [])[1];
const dfPort = Number((runtime.match(/^EXPOSE\s+(\d+)/m) || [])[1]);
const dfDrain = Number((runtime.match(/DIGITS_DRAIN_TIMEOUT=(\d+)/) || [])[1] ?? 10);
// The probes' and Prometheus' port: the admin port when the image sets one
// (it answers while every worker thread is busy), else the API's.
const probeTarget = Number((runtime.match(/DIGITS_ADMIN_PORT=(\d+)/) || [])[1] ?? dfPort);
check(dfUser && dfUser !== "0", `Dockerfile runs as numeric user ${dfUser}`, "Dockerfile: no numeric non-root USER");
check(dfPort === 8080, "Dockerfile EXPOSE 8080", `Dockerfile EXPOSE is ${dfPort}`);

// --- load the manifests -------------------------------------------------------

const kustomization = YAML.parse(readFileSync(path.join(k8sDir, "kustomization.yaml"), "utf8"));
const listed = kustomization.resources || [];
for (const f of readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml"))
    if (!listed.includes(f)) fail(`k8s/${f} is not listed in kustomization.yaml resources`);
const docs = [];   // { file, index, obj }
for (const f of listed) {
    const p = path.join(k8sDir, f);
    if (!existsSync(p)) { fail(`kustomization.yaml lists ${f}, which does not exist`); continue; }
    YAML.parseAllDocuments(readFileSync(p, "utf8")).forEach((d, index) => {
        if (d.errors.length) { fail(`k8s/${f}#${index}: ${d.errors[0].message}`); return; }
        const obj = d.toJS();
        if (obj) docs.push({ file: f, index, obj });
    });
}
const where = (d) => `k8s/${d.file}${d.index ? "#" + d.index : ""} (${d.obj.kind} ${d.obj.metadata?.name})`;

// --- schema: kubernetes-models --------------------------------------------------

const classes = new Map();   // doc -> class
for (const d of docs) {
    const { apiVersion, kind } = d.obj;
    let mod;
    try {
        mod = await import(`kubernetes-models/${apiVersion}`);
    } catch {
        fail(`${where(d)}: no Kubernetes schema for apiVersion ${apiVersion}`);
        continue;
    }
    if (typeof mod[kind] !== "function") { fail(`${where(d)}: ${apiVersion} has no kind ${kind}`); continue; }
    classes.set(d, mod[kind]);
    try {
        new mod[kind](d.obj).validate();
        ok(`${where(d)} matches the ${apiVersion} ${kind} schema`);
    } catch (e) {
        fail(`${where(d)}: ${e.message}`);
    }
}

// --- unknown fields: tsc against the models' interfaces ---------------------

{
    const lines = [];
    const lineOf = [];
    docs.forEach((d, n) => {
        if (!classes.has(d)) return;
        lines.push(`import type { I${d.obj.kind} as T${n} } from "kubernetes-models/${d.obj.apiVersion}";`);
        lineOf.push(null);
    });
    docs.forEach((d, n) => {
        if (!classes.has(d)) return;
        lines.push(`export const d${n}: T${n} = ${JSON.stringify(d.obj)};`);
        lineOf.push(d);
    });
    const ts = path.join(here, "k8s-check.ts");
    writeFileSync(ts, lines.join("\n") + "\n");
    try {
        execFileSync(path.join(here, "node_modules", ".bin", "tsc"),
            ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", ts],
            { cwd: here, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        ok(`no unknown or mistyped fields in ${classes.size} manifests (tsc against the Kubernetes types)`);
    } catch (e) {
        const out = (e.stdout || "") + (e.stderr || "");
        const errs = out.split("\n").filter((l) => /error TS/.test(l));
        if (!errs.length) fail(`tsc did not run: ${out || e.message}`);
        for (const l of errs) {
            const m = l.match(/\((\d+),\d+\): (.*)$/);
            const d = m && lineOf[Number(m[1]) - 1];
            fail(d ? `${where(d)}: ${m[2]}` : l);
        }
    }
}

// --- what this project needs of the manifests ---------------------------------

const byKind = (k) => docs.filter((d) => d.obj.kind === k).map((d) => d.obj);
const matches = (selector, labels) =>
    !!selector && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const cpu = (q) => (q === undefined ? NaN : String(q).endsWith("m") ? parseFloat(q) / 1000 : parseFloat(q));

const deployments = byKind("Deployment");
check(deployments.length === 1, "one Deployment", `${deployments.length} Deployments`);
const dep = deployments[0];
if (dep) {
    const pod = dep.spec.template.spec;
    const podLabels = dep.spec.template.metadata?.labels;
    const c = pod.containers.find((x) => x.image && /(^|\/)digits(:|@|$)/.test(x.image)) || pod.containers[0];
    const env = Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));
    const portNames = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
    const probePort = (p) => (typeof p === "string" ? portNames[p] : p);

    check(matches(dep.spec.selector.matchLabels, podLabels), "Deployment selector matches its pod labels",
        "Deployment selector does not match its pod labels");
    check((c.ports || []).some((p) => p.containerPort === dfPort), `container port ${dfPort}`, "container port is not the Dockerfile's");
    check((c.ports || []).some((p) => p.containerPort === probeTarget), `container port ${probeTarget} for the probes`,
        `the probes' port ${probeTarget} is not a container port`);

    const live = c.livenessProbe?.httpGet, ready = c.readinessProbe?.httpGet;
    check(live?.path === "/healthz" && probePort(live.port) === probeTarget, `liveness probe GET /healthz on ${probeTarget}`,
        `liveness probe is ${JSON.stringify(c.livenessProbe)}`);
    check(ready?.path === "/readyz" && probePort(ready.port) === probeTarget, `readiness probe GET /readyz on ${probeTarget}`,
        `readiness probe is ${JSON.stringify(c.readinessProbe)}`);

    const r = c.resources || {};
    check(r.requests?.cpu && r.requests?.memory && r.limits?.cpu && r.limits?.memory,
        `resources: requests ${r.requests?.cpu}/${r.requests?.memory}, limits ${r.limits?.cpu}/${r.limits?.memory}`,
        "resources need cpu and memory requests and limits");
    const threads = Number(env.DIGITS_THREADS ?? 0);
    check(threads >= 1 && threads <= Math.ceil(cpu(r.limits?.cpu)),
        `DIGITS_THREADS=${threads} fits the CPU limit ${r.limits?.cpu}`,
        `DIGITS_THREADS=${env.DIGITS_THREADS} should be set, at most the CPU limit ${r.limits?.cpu} (a quota the server cannot see)`);

    const psc = pod.securityContext || {}, csc = c.securityContext || {};
    const uid = csc.runAsUser ?? psc.runAsUser;
    check((psc.runAsNonRoot || csc.runAsNonRoot) && uid !== 0, "runAsNonRoot", "the pod must set runAsNonRoot");
    check(uid === undefined || String(uid) === dfUser, `runAsUser ${uid} is the Dockerfile's USER`,
        `runAsUser ${uid} differs from the Dockerfile's USER ${dfUser}`);
    check(csc.readOnlyRootFilesystem === true, "readOnlyRootFilesystem", "readOnlyRootFilesystem must be true");
    check(csc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation must be false");
    check((csc.capabilities?.drop || []).includes("ALL"), "capabilities drop ALL", "capabilities must drop ALL");
    check(csc.privileged !== true, "not privileged", "privileged container");

    const drain = Number(env.DIGITS_DRAIN_TIMEOUT ?? dfDrain);
    const pre = c.lifecycle?.preStop;
    let preStop = 0;
    if (pre?.exec?.command?.[0]?.endsWith("sleep")) preStop = Number(pre.exec.command[1]);
    else if (pre?.sleep) preStop = Number(pre.sleep.seconds);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    check(grace >= preStop + drain + 5,
        `terminationGracePeriodSeconds ${grace} >= preStop ${preStop} s + drain ${drain} s + 5`,
        `terminationGracePeriodSeconds ${grace} is less than preStop ${preStop} s + drain ${drain} s + 5`);
    check(preStop > 0, "preStop waits for the endpoints to be removed", "no preStop sleep: requests can arrive after SIGTERM");

    const ann = dep.spec.template.metadata?.annotations || {};
    check(ann["prometheus.io/scrape"] === "true" && Number(ann["prometheus.io/port"]) === probeTarget
        && (ann["prometheus.io/path"] ?? "/metrics") === "/metrics",
        "Prometheus scrape annotations on the pods", `Prometheus annotations: ${JSON.stringify(ann)}`);

    for (const svc of byKind("Service")) {
        check(matches(svc.spec.selector, podLabels), `Service ${svc.metadata.name} selects the pods`,
            `Service ${svc.metadata.name} selector does not match the pods`);
        for (const p of svc.spec.ports)
            check(probePort(p.targetPort ?? p.port) === dfPort, `Service port ${p.port} -> ${p.targetPort}`,
                `Service port ${p.port} targets ${p.targetPort}, not the container's ${dfPort}`);
    }
    const hpas = byKind("HorizontalPodAutoscaler");
    check(hpas.length === 1, "a HorizontalPodAutoscaler", "no HorizontalPodAutoscaler");
    for (const h of hpas) {
        const t = h.spec.scaleTargetRef;
        check(t.kind === "Deployment" && t.name === dep.metadata.name && t.apiVersion === "apps/v1",
            `HPA scales Deployment ${t.name}, ${h.spec.minReplicas}..${h.spec.maxReplicas} replicas`,
            `HPA targets ${JSON.stringify(t)}`);
        check((h.spec.minReplicas ?? 1) >= 2, "HPA keeps at least 2 replicas", "HPA minReplicas < 2: one pod is a single point of failure");
    }
    for (const pdb of byKind("PodDisruptionBudget"))
        check(matches(pdb.spec.selector.matchLabels, podLabels), "PodDisruptionBudget selects the pods",
            "PodDisruptionBudget selector does not match the pods");
}

// --- compose and prometheus ----------------------------------------------------

const compose = YAML.parse(readFileSync(path.join(repo, "docker", "compose.yaml"), "utf8"));
const svc = compose.services?.digits;
const prom = compose.services?.prometheus;
if (!svc || !prom) {
    fail("compose.yaml needs services digits and prometheus");
} else {
    const seconds = (s) => {
        const m = String(s).match(/^(?:(\d+)m)?(?:(\d+)s)?$/);
        return m ? Number(m[1] || 0) * 60 + Number(m[2] || 0) : NaN;
    };
    const drain = Number(svc.environment?.DIGITS_DRAIN_TIMEOUT ?? dfDrain);
    const grace = seconds(svc.stop_grace_period ?? "10s");
    check(grace > drain, `compose stop_grace_period ${grace} s > drain ${drain} s`,
        `compose stop_grace_period ${grace} s must exceed DIGITS_DRAIN_TIMEOUT ${drain} s`);
    check(JSON.stringify(svc.healthcheck?.test || []).includes("--healthcheck"),
        "compose healthcheck runs digits-server --healthcheck", "compose digits has no --healthcheck");
    check(prom.depends_on?.digits?.condition === "service_healthy",
        "Prometheus starts once digits is healthy", "prometheus must depend on digits with condition service_healthy");
    check(svc.read_only === true && (svc.cap_drop || []).includes("ALL"), "compose digits is read-only, no capabilities",
        "compose digits should be read_only with cap_drop ALL");
    check((prom.volumes || []).some((v) => String(v).startsWith("./prometheus.yml:")),
        "Prometheus mounts docker/prometheus.yml", "prometheus does not mount ./prometheus.yml");
    const pcfg = YAML.parse(readFileSync(path.join(repo, "docker", "prometheus.yml"), "utf8"));
    const job = (pcfg.scrape_configs || []).find((j) =>
        (j.static_configs || []).some((s) => (s.targets || []).includes(`digits:${probeTarget}`)));
    check(job && (job.metrics_path ?? "/metrics") === "/metrics",
        `prometheus.yml job ${job?.job_name} scrapes digits:${probeTarget}/metrics`,
        `prometheus.yml does not scrape digits:${probeTarget}/metrics`);
}

console.log(failures ? `check-deploy: ${failures} failures` : "check-deploy: all passed");
process.exit(failures ? 1 : 0);
