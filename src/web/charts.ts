/**
 * Charts for the admin console, drawn on the server as SVG by Apache ECharts' server-side
 * renderer (`renderer: "svg", ssr: true`, then `renderToSVGString`) and put inline in the page:
 * no script reaches the browser, so pages keep their CSP (`default-src 'none'; style-src 'self'`).
 *
 * That CSP also blocks inline `style` attributes and `<style>` elements, SVG's included; ECharts
 * writes its text fonts as `style="font-size:…;font-family:…"` and its hover effects as a
 * `<style>` block. `cleanSvg` turns the first into presentation attributes (`font-size="12px"`,
 * which CSP does not govern) and drops the second (nothing hovers without script anyway), then
 * refuses any markup that could run or load something. Every chart comes with a table of the
 * same numbers beside it for screen readers (the SVG is one labelled image).
 */
import * as echarts from "echarts";
import { type Html, html, raw } from "../http/html.ts";

/** Series colours on the chart's white ground, each at least 4.5:1 against it. */
const PALETTE = ["#0a58a8", "#a8480a", "#0f5a2c", "#6b2fa0", "#a11d1d"];
const TEXT = "#1b1f24";
const GRID = "#c9ced6";

/** Presentation attributes a `style` declaration may become (SVG 1.1 §6.4). */
const PRESENTATION = new Set([
  "font-size",
  "font-family",
  "font-style",
  "font-weight",
  "fill",
  "stroke",
  "opacity",
]);

export class UnsafeSvg extends Error {}

/**
 * ECharts' SVG made fit for a no-script, no-inline-style page: style attributes become
 * presentation attributes, `<style>` blocks and ECharts' class hooks go, and anything that could
 * run script or load a resource is refused (an exception: a bug, never user input, since every
 * text node is escaped by the renderer).
 */
export function cleanSvg(svg: string): string {
  let out = svg.replace(/<style[^>]*>[\s\S]*?<\/style>/g, "");
  out = out.replace(/ style="([^"]*)"/g, (_, decls: string) => {
    const attrs: string[] = [];
    for (const decl of decls.split(";")) {
      if (decl.trim() === "") continue;
      const [prop, ...rest] = decl.split(":");
      const name = prop.trim().toLowerCase();
      const value = rest.join(":").trim();
      if (!PRESENTATION.has(name)) throw new UnsafeSvg(`unexpected style property ${name}`);
      attrs.push(` ${name}="${value.replace(/"/g, "&quot;")}"`);
    }
    return attrs.join("");
  });
  out = out.replace(/ class="zr\d+-cls-\d+"/g, "").replace(/ ecmeta_[a-z_]+="[^"]*"/g, "");
  for (const [pattern, what] of [
    [/<script/i, "a script element"],
    [/<style/i, "a style element"],
    [/\sstyle=/i, "a style attribute"],
    [/\son[a-z]+\s*=/i, "an event handler"],
    [/javascript:/i, "a javascript: URL"],
    [/<(image|foreignObject|use|a)\b/i, "an element that loads or links"],
    [/\s(xlink:)?href=/i, "a link"],
  ] as const)
    if (pattern.test(out)) throw new UnsafeSvg(`the chart's SVG holds ${what}`);
  return out;
}

export interface ChartSeries {
  readonly name: string;
  readonly data: readonly number[];
}

export interface ChartSpec {
  /** The id of the element that names the chart (its caption), for aria-labelledby. */
  readonly labelledBy: string;
  readonly type: "line" | "bar";
  readonly categories: readonly string[];
  readonly series: readonly ChartSeries[];
  readonly width?: number;
  readonly height?: number;
  /** Bars from left to right (long category names: servers, posts). */
  readonly horizontal?: boolean;
}

/** The chart as inline SVG: one image (role="img") named by the caption it is labelled by. */
export function chartSvg(spec: ChartSpec): Html {
  // Narrow enough that, scaled to a phone's width, the 12 px labels stay readable (about 9 px).
  const width = spec.width ?? 540;
  const height = spec.height ?? 280;
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height });
  try {
    const text = { color: TEXT, fontSize: 12, fontFamily: "sans-serif" };
    const categoryAxis = {
      type: "category" as const,
      data: [...spec.categories],
      axisLabel: { ...text, hideOverlap: true },
      axisLine: { lineStyle: { color: TEXT } },
    };
    const valueAxis = {
      type: "value" as const,
      minInterval: 1,
      axisLabel: text,
      splitLine: { lineStyle: { color: GRID } },
    };
    chart.setOption({
      animation: false,
      backgroundColor: "#ffffff",
      color: PALETTE,
      textStyle: text,
      legend: spec.series.length > 1 ? { top: 4, textStyle: text } : undefined,
      grid: {
        left: spec.horizontal ? 140 : 48,
        right: 24,
        top: spec.series.length > 1 ? 40 : 16,
        bottom: 40,
      },
      xAxis: spec.horizontal ? valueAxis : categoryAxis,
      yAxis: spec.horizontal ? { ...categoryAxis, inverse: true } : valueAxis,
      series: spec.series.map((s) => ({
        name: s.name,
        type: spec.type,
        data: [...s.data],
        silent: true,
        emphasis: { disabled: true },
        showSymbol: spec.categories.length <= 31,
      })),
    });
    const id = spec.labelledBy.replace(/[^a-z0-9-]/gi, "");
    // Clip paths get ids unique to this chart (ECharts numbers them per renderer: zr0-c0 in each).
    const svg = cleanSvg(chart.renderToSVGString({ useViewBox: true })).replace(
      /(id="|url\(#)zr\d+-/g,
      `$1${id}-`,
    );
    // The root element: an image named by its caption (its text is presentation to assistive tech).
    return raw(
      svg.replace(/^<svg /, `<svg role="img" aria-labelledby="${id}" focusable="false" class="chart-svg" `),
    );
  } finally {
    chart.dispose();
  }
}

/**
 * A chart and, beside it, the table of its numbers: a <figure> whose caption names both. `table`
 * is the page's own .table-wrap table (admin's dataTable) of the same data.
 */
export function chartFigure(
  id: string,
  caption: string,
  spec: Omit<ChartSpec, "labelledBy">,
  table: Html,
): Html {
  return html`<figure class="chart" aria-labelledby="${id}">
    <figcaption id="${id}">${caption}</figcaption>
    ${chartSvg({ ...spec, labelledBy: id })} ${table}
  </figure>`;
}

/** The last `days` UTC days, oldest first, as YYYY-MM-DD. */
export function lastDays(days: number, now = new Date()): string[] {
  const out: string[] = [];
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let i = days - 1; i >= 0; i--) out.push(new Date(today - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}
