/* Leaderboard: a column heading sorts the table in place. Without this script its link asks the
   server for the same order; both put rows without a value last and keep ties in rank order. */
(function () {
  "use strict";

  var table = document.querySelector("table[data-sortable]");
  if (!table || !table.tHead || !window.URL || !window.history || !history.replaceState) return;
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.querySelectorAll("th[data-sort-column]"));

  function withSort(href, column, order) {
    var url = new URL(href, window.location.href);
    if (column === "rank" && order === "asc") {
      url.searchParams.delete("sort");
      url.searchParams.delete("order");
    } else {
      url.searchParams.set("sort", column);
      url.searchParams.set("order", order);
    }
    return url.pathname + url.search;
  }

  function valueOf(row, index) {
    var raw = row.cells[index].getAttribute("data-value");
    return raw === null || raw === "" ? null : parseFloat(raw);
  }

  function positionOf(row) {
    return parseInt(row.getAttribute("data-position"), 10);
  }

  function sortBy(column, order) {
    var header = table.tHead.querySelector('th[data-sort-column="' + column + '"]');
    if (!header) return false;
    var index = header.cellIndex;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (first, second) {
      var a = valueOf(first, index);
      var b = valueOf(second, index);
      if (a === null || b === null) {
        if (a !== b) return a === null ? 1 : -1;
      } else if (a !== b) {
        return order === "asc" ? a - b : b - a;
      }
      return positionOf(first) - positionOf(second);
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);

    headers.forEach(function (other) {
      var current = other === header;
      var link = other.querySelector("a[data-sort-link]");
      if (current) other.setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
      else other.removeAttribute("aria-sort");
      var next = current ? (order === "asc" ? "desc" : "asc") : other.getAttribute("data-first-order");
      if (link) link.setAttribute("href", withSort(link.href, other.getAttribute("data-sort-column"), next));
    });
    // The category tabs keep the order, as the server's links do.
    document.querySelectorAll("a[data-board-link]").forEach(function (link) {
      link.setAttribute("href", withSort(link.href, column, order));
    });
    return true;
  }

  table.tHead.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-sort-link]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    var url = new URL(link.href, window.location.href);
    var column = link.closest("th").getAttribute("data-sort-column");
    if (!sortBy(column, url.searchParams.get("order") || "asc")) return;
    event.preventDefault();
    // A reload or a shared link shows the same order.
    history.replaceState(history.state, "", url.pathname + url.search);
  });
})();
