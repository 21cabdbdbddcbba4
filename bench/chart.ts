/**
 * The benchmark's figures as an SVG bar chart: one group of horizontal bars per shape,
 * one bar per method, each labelled with its value. Plain SVG, no script, no font files:
 * it renders in a browser, on GitHub and in an image viewer alike.
 */

/** One bar: its label and value. */
export interface Bar {
  label: string;
  value: number;
}

/** One group of bars under a heading, sharing a unit. */
export interface BarGroup {
  heading: string;
  unit: string;
  bars: Bar[];
}

const WIDTH = 760;
const LABEL_WIDTH = 250;
const BAR_HEIGHT = 18;
const GAP = 6;
const HEADING = 28;

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** The chart of `groups`, titled `title`; each group is scaled to its own largest value. */
export function barChartSvg(title: string, groups: BarGroup[]): string {
  const parts: string[] = [];
  let y = 34;
  for (const group of groups) {
    parts.push(
      `<text x="8" y="${y + 16}" font-weight="bold">${escape(group.heading)}</text>`,
    );
    y += HEADING;
    const largest = Math.max(...group.bars.map((bar) => bar.value), 1);
    for (const bar of group.bars) {
      const length = Math.max(1, (bar.value / largest) * (WIDTH - LABEL_WIDTH - 110));
      const colour = /socketpipe/.test(bar.label) ? "#2b7bb9" : "#9aa5b1";
      parts.push(
        `<text x="${LABEL_WIDTH - 6}" y="${y + 13}" text-anchor="end">${escape(bar.label)}</text>`,
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${
          length.toFixed(1)
        }" height="${BAR_HEIGHT}" fill="${colour}"/>`,
        `<text x="${(LABEL_WIDTH + length + 6).toFixed(1)}" y="${y + 13}">${
          escape(`${Math.round(bar.value)} ${group.unit}`)
        }</text>`,
      );
      y += BAR_HEIGHT + GAP;
    }
    y += GAP;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
