// Sinergia web: client-side table sort/filter and chart drawing (plotly.js, served by this app).
"use strict";
(function () {
  function cellValue(row, index) {
    const cell = row.cells[index];
    if (!cell) return "";
    const raw = cell.getAttribute("data-value");
    return raw !== null ? raw : cell.textContent.trim();
  }
  function sortTable(table, index, th) {
    const body = table.tBodies[0];
    if (!body) return;
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = cellValue(a, index), y = cellValue(b, index);
      const nx = parseFloat(x), ny = parseFloat(y);
      const numeric = x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny);
      const order = numeric ? nx - ny : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function setupTables() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("thead th").forEach(function (th, index) {
        if (th.hasAttribute("data-nosort")) return;
        th.classList.add("sortable");
        th.addEventListener("click", function () { sortTable(table, index, th); });
      });
    });
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      const table = document.getElementById(input.getAttribute("data-filter"));
      if (!table || !table.tBodies[0]) return;
      input.addEventListener("input", function () {
        const needle = input.value.trim().toLowerCase();
        Array.from(table.tBodies[0].rows).forEach(function (row) {
          row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0;
        });
      });
    });
  }
  const registered = {};
  function setupCharts() {
    if (typeof window.Plotly === "undefined") return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      const source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      const spec = JSON.parse(source.textContent);
      const config = { displaylogo: false, responsive: true };
      if (spec.locale && spec.format) {
        // month and day names and separators for the page's language (built from CLDR by the server)
        if (!registered[spec.locale]) {
          window.Plotly.register({ moduleType: "locale", name: spec.locale, dictionary: {}, format: spec.format });
          registered[spec.locale] = true;
        }
        config.locale = spec.locale;
      }
      window.Plotly.newPlot(el, spec.data, spec.layout, config);
      el.setAttribute("data-drawn", "1");
    });
  }
  function setupAutoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { setupTables(); setupCharts(); setupAutoSubmit(); });
})();
