/**
 * Herald's one design system: a single stylesheet shared by the public, staff and admin pages,
 * served as a static asset at a content-hashed path (`/assets/herald-<hash>.css`, cached for a year,
 * immutable) so pages need no inline style and the page CSP stays `default-src 'none';
 * style-src 'self'`. No script anywhere. The page shell that links it is `page()` in
 * src/http/html.ts.
 *
 * Class vocabulary (use these; add to this list when you add a class):
 *
 * Layout and chrome (rendered by `page(title, body, chrome)`, not by hand)
 *   .site-header  .brand  .org-logo  .org-mark  .site-nav  .signout   header, logo or monogram, nav,
 *                                                 the sign-out form slot (inside the nav)
 *   main.wide                                     a wider main column (chrome.wide: admin tables)
 * Text
 *   .muted       secondary text (AA on every surface)      .small   one step smaller
 *   .error       an error message in the danger colour (inline under a field, or a paragraph)
 *   .visually-hidden   for screen readers only
 *   <time>       render with `timeTag(date)` (html.ts): absolute UTC text, ISO datetime, relative hint
 * Buttons (a plain <button> already looks like .btn-primary)
 *   .btn  .btn-primary  .btn-secondary  .btn-danger      on <button> or <a>
 *   .inline-form  a <form> that sits in a line or a table cell (one button)
 * Forms
 *   .field        one labelled control: <div class="field"><label for=x>…</label><input id=x
 *                 aria-describedby="x-error" aria-invalid="true" value="(the input, kept)">
 *                 <p class="error" id="x-error">What to fix</p></div>; .hint for help text
 * Notices (a <p> or <div>; add role="status" for confirmations, role="alert" for errors)
 *   .notice  .notice-success  .notice-error  .notice-warning
 * Blocks
 *   .card          a bordered box               .post     one post in a list (article.post)
 *   .verdict  .verdict-current  .verdict-former  .verdict-unknown   the /verify answer
 *   .badge  .badge-current  .badge-former  .badge-neutral           small status labels
 *   .table-wrap    wrap every <table>: it scrolls inside its box on a phone, never the page
 *                  (give a scrolling wrap role="region", tabindex="0" and a label: axe asks for it)
 *   table.records  a wide table of long rows (the archive): keeps readable columns and scrolls
 *                  in its .table-wrap on a phone instead of squeezing them
 *   td.words       in a table.records: a cell whose words stay whole (names, handles, actions), so
 *                  its column is never squeezed below its longest word (the audit log's Who/About)
 *   .stack         vertical rhythm for a list of blocks           .actions   a row of buttons
 *   .post-media    a post's images (links to the full file around <img> previews with alt text)
 *   figure.chart   a server-rendered SVG chart (src/web/charts.ts: svg.chart-svg, white ground,
 *                  role="img" named by the figcaption) and the table of its numbers below it
 *
 * Colour tokens (CSS custom properties, light and dark by prefers-color-scheme; every text pair is
 * WCAG 2.1 AA, ≥ 4.5:1 — test/web/design.test.ts checks them): --bg --surface --text --muted
 * --border --link --primary --on-primary --success --success-bg --danger --danger-bg --warning
 * --warning-bg --focus.
 */
import { createHash } from "node:crypto";
import { crc32, deflateSync } from "node:zlib";

/** Light and dark colour tokens: [light, dark]. Text pairs are checked for AA contrast in tests. */
export const TOKENS = {
  bg: ["#ffffff", "#111418"],
  surface: ["#f4f6f8", "#1a1f26"],
  text: ["#1b1f24", "#e8eaed"],
  muted: ["#4a5260", "#a9b2be"],
  border: ["#8a93a0", "#5d6775"],
  link: ["#0a58a8", "#8cc4ff"],
  primary: ["#0a58a8", "#8cc4ff"],
  "on-primary": ["#ffffff", "#0b1a2b"],
  success: ["#0f5a2c", "#8fe0a9"],
  "success-bg": ["#e6f4ea", "#12301f"],
  danger: ["#a11d1d", "#ffb3b0"],
  "danger-bg": ["#fdecea", "#3b1515"],
  warning: ["#7a4a00", "#ffd27a"],
  "warning-bg": ["#fff4e0", "#352607"],
  focus: ["#b35c00", "#ffb86b"],
} as const;

/** Text-on-background pairs the stylesheet uses, each to meet AA (4.5:1) in both schemes. */
export const CONTRAST_PAIRS: readonly (readonly [keyof typeof TOKENS, keyof typeof TOKENS])[] = [
  ["text", "bg"],
  ["text", "surface"],
  ["muted", "bg"],
  ["muted", "surface"],
  ["link", "bg"],
  ["link", "surface"],
  ["on-primary", "primary"],
  ["success", "success-bg"],
  ["danger", "danger-bg"],
  ["warning", "warning-bg"],
  ["text", "success-bg"],
  ["text", "danger-bg"],
  ["text", "warning-bg"],
  ["danger", "bg"],
  ["success", "bg"],
];

const vars = (i: 0 | 1) =>
  Object.entries(TOKENS)
    .map(([name, pair]) => `--${name}:${pair[i]};`)
    .join("");

const CSS = `
:root{color-scheme:light dark;${vars(0)}
--step--1:.875rem;--step-0:1rem;--step-1:1.25rem;--step-2:1.5rem;--step-3:1.875rem;
--radius:6px;--space:1rem;--font:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
@media (prefers-color-scheme:dark){:root{${vars(1)}}}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:var(--step-0)/1.55 var(--font);color:var(--text);background:var(--bg);overflow-wrap:break-word}
main{max-width:48rem;margin:0 auto;padding:1.25rem 1rem 3rem}
main.wide{max-width:72rem}
h1,h2,h3{line-height:1.25;margin:1.5em 0 .5em}
h1{font-size:var(--step-3);margin-top:.5em}h2{font-size:var(--step-2)}h3{font-size:var(--step-1)}
p,ul,ol,table,form,pre{margin:0 0 1rem}
a{color:var(--link);text-underline-offset:.15em}
a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
img,svg{max-width:100%;height:auto}
code,kbd,pre{font-family:var(--mono);font-size:.92em}
code{background:var(--surface);padding:.1em .3em;border-radius:3px;overflow-wrap:anywhere}
pre{background:var(--surface);padding:.75rem;border-radius:var(--radius);white-space:pre-wrap;overflow-wrap:anywhere}
hr{border:0;border-top:1px solid var(--border);margin:2rem 0}
.muted{color:var(--muted)}
.small{font-size:var(--step--1)}
.visually-hidden{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
.site-header{background:var(--surface);border-bottom:1px solid var(--border)}
.site-header-inner{max-width:72rem;margin:0 auto;padding:.6rem 1rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.25rem}
.brand{display:inline-flex;align-items:center;gap:.6rem;font-weight:700;font-size:var(--step-1);color:var(--text);text-decoration:none;min-width:0}
.brand:hover{text-decoration:underline}
.org-logo{width:2.25rem;height:2.25rem;object-fit:contain;border-radius:var(--radius)}
.org-mark{display:inline-grid;place-items:center;width:2.25rem;height:2.25rem;border-radius:var(--radius);background:var(--primary);color:var(--on-primary);font-weight:700;font-size:1.1rem;flex:none}
.site-nav{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem 1rem;margin-left:auto}
.site-nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
.site-nav a{display:inline-block;padding:.35rem 0}
.site-nav a[aria-current="page"]{font-weight:700;text-decoration-thickness:3px}
.signout{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:0}
button,.btn{display:inline-block;font:inherit;font-weight:600;line-height:1.3;padding:.5rem 1rem;min-height:2.5rem;border:2px solid var(--primary);border-radius:var(--radius);background:var(--primary);color:var(--on-primary);cursor:pointer;text-decoration:none;text-align:center}
button:hover,.btn:hover{filter:brightness(1.08)}
.btn-primary{background:var(--primary);color:var(--on-primary);border-color:var(--primary)}
.btn-secondary,button.btn-secondary{background:var(--bg);color:var(--link);border-color:var(--primary)}
.btn-danger,button.btn-danger{background:var(--danger);color:var(--bg);border-color:var(--danger)}
.inline-form{display:inline;margin:0}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:0 0 1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input,select,textarea{font:inherit;color:var(--text);background:var(--bg);border:1px solid var(--border);border-radius:var(--radius);padding:.45rem .6rem;max-width:100%}
input:not([type=checkbox]):not([type=radio]):not([type=hidden]),select,textarea{width:100%}
input[type=checkbox],input[type=radio]{width:1.1rem;height:1.1rem;accent-color:var(--primary)}
[aria-invalid="true"]{border-color:var(--danger);border-width:2px}
.field{margin:0 0 1rem}
.field .hint{color:var(--muted);font-size:var(--step--1);margin:.25rem 0 0}
.error{color:var(--danger);font-weight:600}
.field .error{margin:.3rem 0 0}
.notice{padding:.75rem 1rem;border:1px solid var(--border);border-left-width:6px;border-radius:var(--radius);background:var(--surface);color:var(--text)}
.notice-success{border-color:var(--success);background:var(--success-bg)}
.notice-error{border-color:var(--danger);background:var(--danger-bg)}
.notice-warning{border-color:var(--warning);background:var(--warning-bg)}
.card{border:1px solid var(--border);border-radius:var(--radius);padding:1rem;margin:0 0 1rem;background:var(--bg)}
.card>:last-child,.notice>:last-child,.verdict>:last-child{margin-bottom:0}
.stack>*+*{margin-top:1rem}
.post,article.post{border-bottom:1px solid var(--border);padding:.75rem 0}
.post-media{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem;margin:.5rem 0}
.post-media img{display:block;width:100%;height:auto;border:1px solid var(--border);border-radius:var(--radius)}
.badge{display:inline-block;font-size:var(--step--1);font-weight:700;padding:.1rem .55rem;border-radius:999px;border:1px solid currentColor;white-space:nowrap}
.badge-current{color:var(--success);background:var(--success-bg)}
.badge-former{color:var(--danger);background:var(--danger-bg)}
.badge-neutral{color:var(--muted);background:var(--surface)}
.table-wrap{max-width:100%;overflow-x:auto;margin:0 0 1rem;border:1px solid var(--border);border-radius:var(--radius)}
figure.chart{margin:0 0 1.5rem}figure.chart figcaption{font-weight:600;margin:0 0 .5rem}
.chart-svg{display:block;width:100%;max-width:720px;height:auto;border:1px solid var(--border);border-radius:var(--radius);margin:0 0 .75rem}
.table-wrap table{margin:0}
table{border-collapse:collapse;width:100%}
caption{text-align:left;padding:.5rem .75rem;color:var(--muted)}
th,td{text-align:left;vertical-align:top;padding:.45rem .75rem;border-bottom:1px solid var(--border)}
th{background:var(--surface);font-weight:700}
td{overflow-wrap:anywhere}
table.records{min-width:56rem}
.records td:first-child{min-width:7.5rem}
.records code{overflow-wrap:normal;white-space:nowrap}
.records td.words{overflow-wrap:break-word}
td form{display:inline;margin:0}
.verdict{border:2px solid var(--border);border-left-width:10px;border-radius:var(--radius);padding:1rem 1.25rem;margin:1.25rem 0}
.verdict h2{margin:0 0 .5rem;display:flex;gap:.6rem;align-items:baseline;flex-wrap:wrap}
.verdict-icon{font-size:1.4em;line-height:1}
.verdict-current{border-color:var(--success);background:var(--success-bg)}
.verdict-current h2{color:var(--success)}
.verdict-former{border-color:var(--danger);background:var(--danger-bg)}
.verdict-former h2{color:var(--danger)}
.verdict-unknown{border-color:var(--warning);background:var(--warning-bg)}
.verdict-unknown h2{color:var(--warning)}
.verdict dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
.verdict dt{font-weight:700}.verdict dd{margin:0;min-width:0}
@media (max-width:30rem){.verdict dl{grid-template-columns:1fr}.verdict dd{margin-bottom:.4rem}.site-nav{margin-left:0}}
`
  .trim()
  .replace(/\n/g, "");

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
  /** Content-hashed paths never change: cached for a year, immutable. */
  readonly immutable: boolean;
}

const hashOf = (body: Buffer | string) => createHash("sha256").update(body).digest("base64url").slice(0, 16);

/** The stylesheet's name under /assets/ (its content hash in the name). */
export const STYLESHEET_NAME = `herald-${hashOf(CSS)}.css`;

/**
 * The favicon: a check mark on the primary colour, drawn here as a 32×32 RGBA PNG (no image
 * tooling needed) inside an ICO container, so `/favicon.ico` is what its name says.
 */
function faviconPng(size = 32): Buffer {
  const [r, g, b] = [0x0a, 0x58, 0xa8];
  const s = size / 32;
  const check: [number, number][] = [
    [8.5 * s, 16.5 * s],
    [13.5 * s, 21.5 * s],
    [23.5 * s, 10.5 * s],
  ];
  const half = 2 * s;
  const radius = 7 * s;
  const segment = (px: number, py: number, [ax, ay]: number[], [bx, by]: number[]) => {
    const dx = bx - ax;
    const dy = by - ay;
    const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
  };
  const clamp = (v: number) => Math.max(0, Math.min(1, v));
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 4);
    for (let x = 0; x < size; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      // Rounded square: distance outside the inner rectangle, minus the corner radius.
      const qx = Math.max(Math.abs(px - size / 2) - (size / 2 - radius), 0);
      const qy = Math.max(Math.abs(py - size / 2) - (size / 2 - radius), 0);
      const inside = clamp(radius - Math.hypot(qx, qy) + 0.5);
      const d = Math.min(segment(px, py, check[0], check[1]), segment(px, py, check[1], check[2]));
      const white = clamp(half - d + 0.5);
      const o = 1 + x * 4;
      row[o] = Math.round(r + (255 - r) * white);
      row[o + 1] = Math.round(g + (255 - g) * white);
      row[o + 2] = Math.round(b + (255 - b) * white);
      row[o + 3] = Math.round(255 * inside);
    }
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([len, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** An ICO file holding one PNG image (PNG-in-ICO, read by every current browser). */
function icoOf(png: Buffer, size: number): Buffer {
  const header = Buffer.alloc(22);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2); // 1 = icon
  header.writeUInt16LE(1, 4); // one image
  header.writeUInt8(size >= 256 ? 0 : size, 6);
  header.writeUInt8(size >= 256 ? 0 : size, 7);
  header.writeUInt16LE(1, 10); // colour planes
  header.writeUInt16LE(32, 12); // bits per pixel
  header.writeUInt32LE(png.length, 14);
  header.writeUInt32LE(22, 18); // offset of the image
  return Buffer.concat([header, png]);
}

/** Everything served under /assets/ (by name) and the favicon. Built once, by `createAssets()`. */
export function createAssets(): { readonly byName: ReadonlyMap<string, Asset>; readonly favicon: Asset } {
  return {
    byName: new Map([
      [STYLESHEET_NAME, { type: "text/css; charset=utf-8", body: Buffer.from(CSS), immutable: true }],
    ]),
    favicon: { type: "image/x-icon", body: icoOf(faviconPng(32), 32), immutable: false },
  };
}

/** The organization's identity in the page header. */
export interface OrgIdentity {
  readonly name: string;
  /** An http(s) image URL (HERALD_ORG_LOGO_URL, else HERALD_ORG_AVATAR_URL); else a monogram. */
  readonly logoUrl?: string;
  /** Where the name links to (default "/"). */
  readonly href?: string;
}

/** The organization's identity from the configuration. */
export function orgIdentity(config: { readonly orgName: string; readonly orgLogoUrl?: string }): OrgIdentity {
  return { name: config.orgName, ...(config.orgLogoUrl ? { logoUrl: config.orgLogoUrl } : {}) };
}

/** The monogram shown when there is no logo: the name's first letter or digit, upper-cased. */
export function monogram(name: string): string {
  const letter = /[\p{L}\p{N}]/u.exec(name.normalize("NFC"))?.[0];
  return (letter ?? "H").toLocaleUpperCase("en");
}
