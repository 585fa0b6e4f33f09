// Lineage graph: layered SVG, upstream left, downstream right. Wide levels are collapsed to a
// few nodes plus a "more" node that expands them in steps, so a 10,000-node neighbourhood draws
// a bounded number of elements. Nodes are links (keyboard focusable); the lineage page's list
// view carries every node as text.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var FIRST = 25;      // nodes shown per level before "more"
  var STEP = 100;      // nodes added per activation of "more"
  var COL_W = 240, NODE_W = 200, ROW_H = 34, NODE_H = 26, PAD = 12;

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  function label(n) {
    var s = n.name.length > 28 ? "…" + n.name.slice(-27) : n.name;
    return s;
  }

  function draw(box, data) {
    var layers = {}, order = [];
    data.nodes.forEach(function (n, i) {
      if (!(n.layer in layers)) { layers[n.layer] = []; order.push(n.layer); }
      layers[n.layer].push(i);
    });
    order.sort(function (a, b) { return a - b; });
    var shown = {};
    order.forEach(function (l) { shown[l] = Math.min(FIRST, layers[l].length); });

    function render() {
      box.textContent = "";
      var pos = {}, more = {}, rows = 0;
      order.forEach(function (l, c) {
        var ids = layers[l], k = shown[l];
        for (var r = 0; r < k; r++) { pos[ids[r]] = [c, r]; }
        if (k < ids.length) { more[l] = [c, k]; }
        rows = Math.max(rows, k + (k < ids.length ? 1 : 0));
      });
      var w = order.length * COL_W + PAD, h = rows * ROW_H + PAD * 2;
      var svg = el("svg", {width: w, height: h, viewBox: "0 0 " + w + " " + h,
                           "class": "lineage-svg"}, box);
      var edges = el("g", {"class": "edges"}, svg);
      var seen = {};
      function anchor(i) {
        if (pos[i]) { return pos[i]; }
        return more[data.nodes[i].layer];
      }
      data.edges.forEach(function (e) {
        var a = anchor(e[0]), b = anchor(e[1]);
        if (!a || !b) { return; }
        var key = a + ">" + b;
        if (seen[key]) { return; }
        seen[key] = 1;
        var x1 = PAD + a[0] * COL_W + NODE_W, y1 = PAD + a[1] * ROW_H + NODE_H / 2;
        var x2 = PAD + b[0] * COL_W, y2 = PAD + b[1] * ROW_H + NODE_H / 2;
        if (x2 <= x1) { x1 -= NODE_W; x2 += NODE_W; }
        var mx = (x1 + x2) / 2;
        el("path", {d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 +
                       " " + x2 + "," + y2, "class": "edge"}, edges);
      });
      Object.keys(pos).forEach(function (i) {
        var n = data.nodes[i], p = pos[i];
        var a = el("a", {href: n.url, "class": "node node-" + n.t +
                         (n.status ? " status-" + n.status : "") +
                         (+i === data.start ? " start" : "")}, svg);
        var t = el("title", {}, a);
        t.textContent = (n.t === "d" ? "dataset " : "job ") + n.ns + "/" + n.name +
                        (n.status ? " (" + n.status + ")" : "");
        el("rect", {x: PAD + p[0] * COL_W, y: PAD + p[1] * ROW_H, width: NODE_W,
                    height: NODE_H, rx: n.t === "d" ? 4 : 13}, a);
        var tx = el("text", {x: PAD + p[0] * COL_W + 8, y: PAD + p[1] * ROW_H + 17}, a);
        tx.textContent = label(n);
      });
      Object.keys(more).forEach(function (l) {
        var p = more[l], left = layers[l].length - shown[l];
        var g = el("g", {"class": "node more", tabindex: "0", role: "button",
                         "aria-label": "Show " + Math.min(STEP, left) + " more of " + left +
                         " hidden nodes at this level"}, svg);
        el("rect", {x: PAD + p[0] * COL_W, y: PAD + p[1] * ROW_H, width: NODE_W,
                    height: NODE_H, rx: 4}, g);
        var tx = el("text", {x: PAD + p[0] * COL_W + 8, y: PAD + p[1] * ROW_H + 17}, g);
        tx.textContent = "+ " + left.toLocaleString() + " more…";
        function expand(ev) {
          if (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") { return; }
          ev.preventDefault();
          shown[l] = Math.min(layers[l].length, shown[l] + STEP);
          render();
          var again = box.querySelector(".more");
          if (again) { again.focus(); }
        }
        g.addEventListener("click", expand);
        g.addEventListener("keydown", expand);
      });
      var status = document.createElement("p");
      status.className = "graph-status";
      status.setAttribute("aria-live", "polite");
      status.textContent = data.nodes.length.toLocaleString() + " nodes, " +
        data.edges.length.toLocaleString() + " edges" +
        (data.truncated ? " (truncated: lower the depth)" : "");
      box.insertBefore(status, svg);
    }
    render();
  }

  function init() {
    var box = document.getElementById("graph");
    if (!box || !window.fetch) { return; }
    fetch(box.getAttribute("data-src"), {credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) { draw(box, data); box.setAttribute("data-ready", "1"); })
      .catch(function (err) {
        box.textContent = "";
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = "Lineage could not be loaded (" + err.message + "). Use the list view.";
        box.appendChild(p);
      });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else { init(); }
})();
