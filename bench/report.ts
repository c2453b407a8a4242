/**
 * How the benchmarks report: each group yields a table of figures, each figure with
 * its budget and whether it is met, printed under a line naming the machine.
 */
import * as os from "node:os"

export interface Budget {
  readonly label: string
  readonly met: (value: number) => boolean
}

export interface Figure {
  readonly name: string
  /** A number is checked against the budget; a string is shown as is. */
  readonly value: number | string
  readonly unit?: string
  readonly budget?: Budget
}

export interface Table {
  readonly title: string
  readonly figures: ReadonlyArray<Figure>
  readonly notes?: ReadonlyArray<string>
}

export const atMost = (limit: number, unit = ""): Budget => ({
  label: `≤ ${limit}${unit === "" ? "" : ` ${unit}`}`,
  met: (value) => value <= limit,
})

export const exactly = (expected: number, unit = ""): Budget => ({
  label: `= ${expected}${unit === "" ? "" : ` ${unit}`}`,
  met: (value) => value === expected,
})

export const machine = (): string => {
  const cpus = os.cpus()
  const memory = `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`
  return `${cpus[0]?.model ?? "unknown cpu"} × ${cpus.length} cores, ${memory}, Linux ${os.release()}, Node ${process.version}`
}

const formatNumber = (value: number): string => {
  if (Number.isInteger(value)) return String(value)
  const abs = Math.abs(value)
  return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2)
}

const cellsOf = (figure: Figure): ReadonlyArray<string> => {
  const value = typeof figure.value === "number" ? formatNumber(figure.value) : figure.value
  const measured = figure.unit === undefined ? value : `${value} ${figure.unit}`
  if (figure.budget === undefined) return [figure.name, measured, "", ""]
  const verdict =
    typeof figure.value !== "number" || Number.isNaN(figure.value)
      ? "n/a"
      : figure.budget.met(figure.value)
        ? "pass"
        : "FAIL"
  return [figure.name, measured, figure.budget.label, verdict]
}

/** The load average now: other work on the machine makes every figure worse. */
export const load = (): string =>
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`

/** A plain-text table: figure | measured | budget | result. */
export const render = (table: Table): string => {
  const rows = [["figure", "measured", "budget", "result"], ...table.figures.map(cellsOf)]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  const line = (row: ReadonlyArray<string>) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join(" │ ")
      .trimEnd()
  const rule = widths.map((width) => "─".repeat(width)).join("─┼─")
  return [
    `${table.title}`,
    line(rows[0]!),
    rule,
    ...rows.slice(1).map(line),
    ...(table.notes ?? []).map((note) => `  ${note}`),
  ].join("\n")
}

/** Figures that have a budget and miss it. */
export const failures = (tables: ReadonlyArray<Table>): ReadonlyArray<string> =>
  tables.flatMap((table) =>
    table.figures
      .filter((f) => f.budget !== undefined && cellsOf(f)[3] === "FAIL")
      .map((f) => `${table.title}: ${f.name} = ${cellsOf(f)[1]} (budget ${f.budget?.label})`),
  )
