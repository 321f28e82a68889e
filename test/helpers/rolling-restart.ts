/**
 * A rolling restart behind nginx, shared by test/cluster/rolling-restart.test.ts (which requires
 * zero failures) and bench/cluster.ts (which counts them with and without deploy/nginx-readyz.sh).
 *
 * nginx (Debian's package, a child process) in front of `processes` Herald processes (`herald
 * all`) on one fresh MariaDB database. `clients` clients create SCIM Users through nginx, and
 * Okta's SCIM suite runs again and again (when `okta`), while each process in turn gets SIGTERM,
 * exits, is started again and is back in rotation before the next one goes.
 *
 * With `readyz`, deploy/nginx-readyz.sh keeps the upstream's servers file in step with each
 * process's /readyz (as compose runs it); without, the servers file is written once, and nginx
 * learns of a restart only from refused connections (passive checks and proxy_next_upstream).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, freshDatabaseUrl, ROOT, waitFor } from "./env.ts";
import { runCli, type ServerProcess, startServerProcess } from "./process.ts";
import { runSuites, type SuitesRun } from "../conformance/suites.ts";

export const NGINX = "/usr/sbin/nginx";
const READYZ_SCRIPT = path.join(ROOT, "deploy/nginx-readyz.sh");
/** The upstream servers' parameters, as deploy/compose.yaml gives them (without `resolve`). */
const SERVER_PARAMS = "max_fails=1 fail_timeout=2s";

/**
 * nginx's configuration: everything (pid, logs, temp files) inside `prefix`, in the foreground;
 * the upstream's servers come from `upstream.conf` there.
 */
function nginxConfig(prefix: string, port: number, upstreams: number): string {
  const temp = (name: string) => path.join(prefix, "temp", name);
  return `daemon off;
worker_processes 1;
pid ${path.join(prefix, "nginx.pid")};
error_log ${path.join(prefix, "error.log")} info;
events { worker_connections 1024; }
http {
    log_format herald '$request_method $uri $status upstream=$upstream_addr upstream_status=$upstream_status';
    access_log ${path.join(prefix, "access.log")} herald;
    client_body_temp_path ${temp("body")};
    proxy_temp_path ${temp("proxy")};
    fastcgi_temp_path ${temp("fastcgi")};
    uwsgi_temp_path ${temp("uwsgi")};
    scgi_temp_path ${temp("scgi")};
    upstream herald {
        include ${path.join(prefix, "upstream.conf")};
    }
    # One request per client connection. nginx-readyz.sh reloads nginx to take a process out of
    # rotation, and a reload closes the old workers' idle keep-alive connections: a
    # client that sends on one at that moment gets a reset, which a client may retry for a GET but
    # not for a POST. That race is between a client and a reloading nginx (a controller that changes
    # upstreams without reloading, such as ingress-nginx's, has none), not Herald's restart.
    keepalive_timeout 0;
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://herald;
            proxy_http_version 1.1;
            proxy_set_header Connection close;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries ${upstreams};
            proxy_next_upstream_timeout 10s;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }
    }
}
`;
}

export interface Answer {
  readonly client: number;
  readonly userName: string;
  /** 0: no answer (the connection failed). */
  readonly status: number;
  readonly id?: string;
  readonly detail?: string;
}

export interface Restart {
  readonly exitCode: number | null;
  /** From SIGTERM: out of rotation (nginx-readyz.sh's line; undefined without it), exited, ready, back. */
  readonly outMs?: number;
  readonly exitMs: number;
  readonly readyMs: number;
  readonly backMs?: number;
}

export interface RollingRestartOptions {
  readonly readyz: boolean;
  readonly okta: boolean;
  readonly processes?: number;
  readonly clients?: number;
  readonly drainMs?: number;
}

export interface RollingRestartRun {
  readonly origin: string;
  readonly token: string;
  readonly answers: readonly Answer[];
  readonly restarts: readonly Restart[];
  readonly okta: readonly SuitesRun[];
  /** nginx's access log: requests, answers 5xx to the client, requests passed on to another process. */
  readonly nginx: { readonly requests: number; readonly fiveXX: number; readonly retried: number };
  readonly seconds: number;
  /** Acknowledged creates that nginx answers by id with their userName, and the count a filter finds. */
  present(): Promise<{ absent: number; listed: number }>;
  /** Stops everything; keeps nginx's and the processes' logs in a directory when `keepLogs`. */
  stop(keepLogs: boolean): Promise<string | undefined>;
}

/** Runs one rolling restart; the processes and nginx stay up until `stop`. */
export async function rollingRestart(options: RollingRestartOptions): Promise<RollingRestartRun> {
  const PROCESSES = options.processes ?? 3;
  const CLIENTS = options.clients ?? 8;
  const started = performance.now();
  const fresh = await freshDatabaseUrl();
  const prefix = mkdtempSync(path.join(tmpdir(), "herald-cluster-"));
  // nginx's workers run as `nobody` when the test runs as root: they buffer bodies here.
  chmodSync(prefix, 0o755);
  for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi"])
    mkdirSync(path.join(prefix, "temp", d), { recursive: true, mode: 0o777 });
  const ports: number[] = [];
  for (let i = 0; i < PROCESSES; i++) ports.push(await freePort());
  const nginxPort = await freePort();
  const origin = `http://127.0.0.1:${nginxPort}`;
  const env = {
    DATABASE_URL: fresh.url,
    // Shared: development secrets live there, and sessions and attestations must agree.
    HERALD_DATA_DIR: fresh.dir,
    HERALD_ORIGIN: origin,
    HERALD_TRUST_PROXY: "true",
    HERALD_DRAIN_DELAY_MS: String(options.drainMs ?? 1500),
    HERALD_LEASE_MS: "2000",
    HERALD_QUEUE_LEASE_MS: "2000",
    HERALD_QUEUE_POLL_MS: "100",
  };
  const logs: string[] = [];
  const servers: ServerProcess[] = [];
  let nginx: ChildProcess | undefined;
  let controller: ChildProcess | undefined;
  let scriptOut = "";
  let loading = false;
  let load: Promise<unknown> = Promise.resolve();
  const keep = (i: number, s: ServerProcess) => {
    const { stdout, stderr } = s.output();
    logs.push(`--- process ${i} (port ${ports[i]}) ---\n${stdout}${stderr}`);
  };
  const kill = async (child: ChildProcess | undefined, signal: NodeJS.Signals) => {
    if (!child?.pid || child.exitCode != null || child.signalCode != null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await gone;
  };
  const stop = async (keepLogs: boolean) => {
    loading = false;
    await load;
    await kill(controller, "SIGTERM");
    await kill(nginx, "SIGQUIT");
    await Promise.all(
      servers.map(async (s, i) => {
        if (s.child.exitCode == null) {
          s.child.kill("SIGTERM");
          await s.exited;
        }
        keep(i, s);
      }),
    );
    await fresh.cleanup();
    if (!keepLogs) {
      rmSync(prefix, { recursive: true, force: true });
      return undefined;
    }
    // For whoever reads a failure: nginx's error and access logs, each process's log, the script's.
    writeFileSync(path.join(prefix, "herald.log"), logs.join("\n"));
    writeFileSync(path.join(prefix, "nginx-readyz.log"), scriptOut);
    return prefix;
  };

  try {
    // The first one alone (it applies the migrations), then the others.
    servers[0] = await startServerProcess(env, ports[0], undefined, { role: "all", ready: true });
    const rest = await Promise.all(
      ports.slice(1).map((p) => startServerProcess(env, p, undefined, { role: "all", ready: true })),
    );
    servers.push(...rest);

    // With `readyz`, deploy/nginx-readyz.sh writes the servers file (every process in rotation)
    // before nginx starts, then checks /readyz every 100 ms and reloads nginx on a change.
    const conf = path.join(prefix, "nginx.conf");
    const serversFile = path.join(prefix, "upstream.conf");
    writeFileSync(conf, nginxConfig(prefix, nginxPort, PROCESSES));
    const rotation: { process: number; up: boolean; at: number }[] = [];
    if (options.readyz) {
      const script = spawn("sh", [READYZ_SCRIPT, "--foreground"], {
        env: {
          PATH: process.env.PATH,
          HERALD_UPSTREAMS: ports.map((p) => `127.0.0.1:${p}`).join(" "),
          HERALD_UPSTREAM_FILE: serversFile,
          HERALD_UPSTREAM_PARAMS: SERVER_PARAMS,
          HERALD_READYZ_INTERVAL: "0.1",
          HERALD_NGINX_RELOAD: `${NGINX} -p ${prefix} -c ${conf} -e ${path.join(prefix, "error.log")} -s reload`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      controller = script;
      script.stdout?.on("data", (d: Buffer) => {
        const at = performance.now();
        scriptOut += d;
        for (const m of String(d).matchAll(/^herald-readyz: (in|out) 127\.0\.0\.1:(\d+)$/gm))
          rotation.push({ process: ports.indexOf(Number(m[2])), up: m[1] === "in", at });
      });
      script.stderr?.on("data", (d: Buffer) => {
        scriptOut += d;
      });
      await waitFor(
        () => {
          if (script.exitCode != null) throw new Error(`nginx-readyz.sh exited: ${scriptOut}`);
          return existsSync(serversFile) || undefined;
        },
        { what: "nginx-readyz.sh to write the servers file" },
      );
    } else {
      writeFileSync(serversFile, ports.map((p) => `server 127.0.0.1:${p} ${SERVER_PARAMS};\n`).join(""));
    }
    const proxy = spawn(NGINX, ["-p", prefix, "-c", conf, "-e", path.join(prefix, "error.log")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    nginx = proxy;
    let nginxErr = "";
    proxy.stderr?.on("data", (d) => {
      nginxErr += d;
    });
    await waitFor(
      async () => {
        if (proxy.exitCode != null) throw new Error(`nginx exited: ${nginxErr}`);
        return (await fetch(`${origin}/readyz`)).status === 200 || undefined;
      },
      { what: "nginx to answer" },
    );

    const cli = await runCli(["token", "create", "rolling-restart"], {
      ...env,
      NODE_ENV: "test",
      HERALD_LOG_LEVEL: "fatal",
    });
    const token = cli.stdout.trim().split("\n").at(-1) ?? "";
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(token, /^hrld_/);

    // Clients creating Users, each answer recorded.
    loading = true;
    const answers: Answer[] = [];
    const client = async (c: number) => {
      for (let i = 0; loading; i++) {
        const userName = `load-${c}-${i}@corp.example`;
        try {
          const res = await fetch(`${origin}/scim/v2/Users`, {
            method: "POST",
            headers: { "content-type": "application/scim+json", authorization: `Bearer ${token}` },
            body: JSON.stringify({
              schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
              userName,
              name: { givenName: `Load${c}`, familyName: `Client${i}` },
              emails: [{ value: userName, type: "work", primary: true }],
              active: true,
            }),
          });
          const text = await res.text();
          const id = res.status === 201 ? (JSON.parse(text) as { id: string }).id : undefined;
          answers.push({ client: c, userName, status: res.status, id, detail: id ? undefined : text });
        } catch (err) {
          answers.push({
            client: c,
            userName,
            status: 0,
            detail: `${String(err)} (${String((err as Error).cause)})`,
          });
        }
      }
    };
    load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));

    // Each process in turn: SIGTERM, exit, start again, back in rotation before the next. Without
    // the script, "back" is the process's own /readyz, and nginx finds it within fail_timeout.
    let restarting = true;
    const restarts: Restart[] = [];
    const rotated = (i: number, to: boolean, after: number) =>
      waitFor(() => rotation.find((r) => r.process === i && r.up === to && r.at >= after), {
        what: `process ${i} ${to ? "back in" : "out of"} rotation`,
        timeoutMs: 60_000,
      });
    const rolling = (async () => {
      try {
        await new Promise((r) => setTimeout(r, 1000));
        for (let i = 0; i < PROCESSES; i++) {
          const t0 = performance.now();
          servers[i].child.kill("SIGTERM");
          const out = options.readyz ? rotated(i, false, t0) : undefined;
          const exitCode = await servers[i].exited;
          const exitMs = performance.now() - t0;
          const outMs = out ? (await out).at - t0 : undefined;
          keep(i, servers[i]);
          servers[i] = await startServerProcess(env, ports[i], undefined, { role: "all", ready: true });
          const readyMs = performance.now() - t0;
          let backMs: number | undefined;
          if (options.readyz) backMs = (await rotated(i, true, t0)).at - t0;
          // nginx retries a process it marked failed after fail_timeout (2 s).
          else await new Promise((r) => setTimeout(r, 2500));
          restarts.push({ exitCode, outMs, exitMs, readyMs, backMs });
        }
      } finally {
        restarting = false;
      }
    })();

    // Okta's suite, run again and again until the restarts are over (at least once).
    const okta: SuitesRun[] = [];
    const suites = (async () => {
      if (!options.okta) return;
      do {
        const work = path.join(prefix, `okta-${okta.length + 1}`);
        mkdirSync(work);
        okta.push(await runSuites(`${origin}/scim/v2`, token, ["okta"], work, { timingApart: true }));
      } while (restarting);
    })();

    await Promise.all([rolling, suites]);
    // A little load on the restarted set, then stop.
    await new Promise((r) => setTimeout(r, 1000));
    loading = false;
    await load;
    const seconds = (performance.now() - started) / 1000;

    const access = readFileSync(path.join(prefix, "access.log"), "utf8").trim().split("\n");
    const nginxCounts = {
      requests: access.length,
      fiveXX: access.filter((l) => / 5\d\d upstream=/.test(l)).length,
      // "502, 201": nginx tried one process, then another (a request that was never sent).
      retried: access.filter((l) => /upstream_status=\S+, /.test(l)).length,
    };

    const present = async () => {
      let absent = 0;
      const acknowledged = answers.filter((a) => a.status === 201);
      const queue = [...acknowledged];
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          for (let a = queue.pop(); a; a = queue.pop()) {
            const res = await fetch(`${origin}/scim/v2/Users/${a.id}`, {
              headers: { authorization: `Bearer ${token}` },
            });
            const body = (await res.json()) as { userName?: string };
            if (res.status !== 200 || body.userName !== a.userName) absent += 1;
          }
        }),
      );
      const listed = await fetch(
        `${origin}/scim/v2/Users?filter=${encodeURIComponent('userName sw "load-"')}&count=1`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      assert.equal(listed.status, 200);
      return { absent, listed: ((await listed.json()) as { totalResults: number }).totalResults };
    };
    return { origin, token, answers, restarts, okta, nginx: nginxCounts, seconds, present, stop };
  } catch (err) {
    const kept = await stop(true);
    throw new Error(`rolling restart: ${String(err)} (logs in ${kept})`, { cause: err });
  }
}
