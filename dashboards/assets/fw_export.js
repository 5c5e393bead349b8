/* Flowwatch export: every card's "CSV" button downloads the data it shows, in the browser.
 *
 * A button carries data-csv-target (the id of a dcc.Graph, a dash-ag-grid AgGrid, or a table's
 * wrapper) and data-csv-name. Charts give one row per point (series, x, y) from the figure
 * Plotly drew; grids use AG Grid's own exportDataAsCsv; tables give their cells as shown. Before
 * printing, charts are resized to the page so the print stylesheet's layout holds.
 */
(function () {
  "use strict";

  function cell(value) {
    if (value === null || value === undefined) { return ""; }
    const text = String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function toCsv(rows) {
    return rows.map(function (row) { return row.map(cell).join(","); }).join("\r\n") + "\r\n";
  }

  function fileName(base) {
    const params = new URLSearchParams(window.location.search);
    const period = params.get("period") || params.get("range");
    const day = new Date().toISOString().slice(0, 10);
    return [base, period, day].filter(Boolean).join("-") + ".csv";
  }

  function save(name, text) {
    const blob = new Blob(["\ufeff" + text], { type: "text/csv;charset=utf-8" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  function figureRows(plot) {
    const rows = [["series", "x", "y"]];
    (plot._fullData || plot.data || []).forEach(function (trace, i) {
      if (trace.visible === false) { return; }
      const name = trace.name || "series " + (i + 1);
      if (trace.type === "pie") {
        Array.from(trace.labels || []).forEach(function (label, j) { rows.push([name, label, trace.values[j]]); });
        return;
      }
      const xs = trace.x ? Array.from(trace.x) : [];
      const ys = trace.y ? Array.from(trace.y) : [];
      for (let j = 0; j < Math.max(xs.length, ys.length); j += 1) { rows.push([name, xs[j], ys[j]]); }
    });
    return rows;
  }

  function cellText(node) {
    // headers by their source text (innerText would carry CSS upper-casing), cells as laid out
    const shown = node.tagName === "TH" ? node.textContent : node.innerText;
    const text = shown.replace(/\s+/g, " ").trim();
    if (text) { return text; }
    const img = node.querySelector("img[alt]");
    return img ? img.getAttribute("alt") : "";
  }

  function tableRows(table) {
    return Array.from(table.querySelectorAll("tr")).map(function (tr) {
      return Array.from(tr.querySelectorAll("th, td")).map(cellText);
    });
  }

  function exportTarget(button) {
    const id = button.getAttribute("data-csv-target");
    const name = fileName(button.getAttribute("data-csv-name") || id);
    const element = document.getElementById(id);
    if (!element) { return; }
    const plot = element.classList.contains("js-plotly-plot") ? element : element.querySelector(".js-plotly-plot");
    if (plot) { save(name, toCsv(figureRows(plot))); return; }
    if (element.querySelector(".ag-root-wrapper") && window.dash_ag_grid && window.dash_ag_grid.getApi) {
      window.dash_ag_grid.getApi(id).exportDataAsCsv({ fileName: name });
      return;
    }
    const table = element.tagName === "TABLE" ? element : element.querySelector("table");
    if (table) { save(name, toCsv(tableRows(table))); }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-csv-target]");
    if (button) { event.preventDefault(); exportTarget(button); }
  });

  window.addEventListener("beforeprint", function () {
    if (!window.Plotly) { return; }
    document.querySelectorAll(".js-plotly-plot").forEach(function (plot) { window.Plotly.Plots.resize(plot); });
  });
  window.addEventListener("afterprint", function () {
    if (!window.Plotly) { return; }
    document.querySelectorAll(".js-plotly-plot").forEach(function (plot) { window.Plotly.Plots.resize(plot); });
  });
})();
