// Lineage graph: laid out by dagre (npm's @dagrejs/dagre, served at /vendor/dagre.min.js), data
// flowing left to right, with pan and zoom, the start node kept in view, wide levels collapsed to
// a few nodes and a "more" node that expands them in steps, single nodes collapsible, the path
// between two chosen nodes highlighted, and column-level edges for a chosen column. Nodes are
// links (keyboard focusable); every control is a button; the lineage page's list view carries
// every node as text. Without dagre (not installed) nodes fall back to one column per level.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var FIRST = 25;      // nodes shown per level before "more"
  var STEP = 100;      // nodes added per activation of "more"
  var NODE_W = 200, NODE_H = 28, MIN_K = 0.1, MAX_K = 3;

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  function label(n) {
    return n.name.length > 27 ? "…" + n.name.slice(-26) : n.name;
  }

  function describe(n) {
    return (n.t === "d" ? "dataset " : "job ") + n.ns + "/" + n.name;
  }

  function Graph(box, data) {
    this.box = box;
    this.data = data;
    this.layers = {};
    this.succ = data.nodes.map(function () { return []; });
    this.pred = data.nodes.map(function () { return []; });
    var self = this;
    data.nodes.forEach(function (n, i) {
      (self.layers[n.layer] = self.layers[n.layer] || []).push(i);
    });
    data.edges.forEach(function (e) { self.succ[e[0]].push(e[1]); self.pred[e[1]].push(e[0]); });
    this.shown = {};
    Object.keys(this.layers).forEach(function (l) {
      self.shown[l] = Math.min(FIRST, self.layers[l].length);
    });
    this.collapsed = {};
    this.picked = [];        // up to two node indices: the ends of the highlighted path
    this.columnEdges = null; // [[ns, name, field], [ns, name, field]] pairs, data-flow order
    this.view = null;        // {x, y, k}: the viewport's transform
  }

  // Which nodes are drawn: a level shows its first `shown` nodes, and a node is drawn when it is
  // reached from the start moving away from it without passing through a collapsed node.
  Graph.prototype.visible = function () {
    var d = this.data, self = this, allowed = {}, seen = {}, queue = [d.start];
    Object.keys(this.layers).forEach(function (l) {
      self.layers[l].slice(0, self.shown[l]).forEach(function (i) { allowed[i] = true; });
    });
    allowed[d.start] = true;
    seen[d.start] = true;
    while (queue.length) {
      var i = queue.shift(), layer = d.nodes[i].layer;
      if (this.collapsed[i] && i !== d.start) { continue; }
      var next = [];
      if (layer <= 0) { next = next.concat(this.pred[i].filter(function (p) { return d.nodes[p].layer < layer; })); }
      if (layer >= 0) { next = next.concat(this.succ[i].filter(function (s) { return d.nodes[s].layer > layer; })); }
      next.forEach(function (j) {
        if (allowed[j] && !seen[j]) { seen[j] = true; queue.push(j); }
      });
    }
    return seen;
  };

  // The nodes a collapsed node hides: its neighbours away from the start.
  Graph.prototype.outward = function (i) {
    var d = this.data, layer = d.nodes[i].layer;
    if (layer < 0) { return this.pred[i].filter(function (p) { return d.nodes[p].layer < layer; }); }
    if (layer > 0) { return this.succ[i].filter(function (s) { return d.nodes[s].layer > layer; }); }
    return [];
  };

  Graph.prototype.layout = function (vis) {
    var d = this.data, self = this, boxes = {}, edges = [], seen = {}, more = {};
    Object.keys(this.layers).forEach(function (l) {
      if (self.shown[l] < self.layers[l].length) { more[l] = "m" + l; }
    });
    function key(i) {
      if (vis[i]) { return "n" + i; }
      var l = d.nodes[i].layer;
      // Hidden by a level's cap (not by a collapsed node): drawn through its level's "more".
      return more[l] && self.layers[l].indexOf(i) >= self.shown[l] ? more[l] : null;
    }
    d.edges.forEach(function (e) {
      var a = key(e[0]), b = key(e[1]);
      if (!a || !b || a === b || (a[0] === "m" && b[0] === "m")) { return; }
      if (a[0] === "m" && !vis[e[1]]) { return; }
      if (b[0] === "m" && !vis[e[0]]) { return; }
      var k = a + ">" + b;
      if (!seen[k]) { seen[k] = true; edges.push([a, b]); }
    });
    Object.keys(vis).forEach(function (i) { boxes["n" + i] = {layer: d.nodes[i].layer}; });
    Object.keys(more).forEach(function (l) { boxes[more[l]] = {layer: +l, more: true}; });
    var pos = {}, routes = [], width, height;
    if (window.dagre) {
      var g = new window.dagre.graphlib.Graph();
      g.setGraph({rankdir: "LR", nodesep: 12, ranksep: 70, marginx: 16, marginy: 16});
      g.setDefaultEdgeLabel(function () { return {}; });
      Object.keys(boxes).forEach(function (id) { g.setNode(id, {width: NODE_W, height: NODE_H}); });
      edges.forEach(function (e) { g.setEdge(e[0], e[1]); });
      window.dagre.layout(g);
      Object.keys(boxes).forEach(function (id) {
        var n = g.node(id);
        pos[id] = {x: n.x - NODE_W / 2, y: n.y - NODE_H / 2};
      });
      edges.forEach(function (e) { routes.push({from: e[0], to: e[1], points: g.edge(e[0], e[1]).points}); });
      width = g.graph().width; height = g.graph().height;
    } else {  // one column per level, in the order the server sent
      var order = Object.keys(this.layers).map(Number).sort(function (a, b) { return a - b; });
      var rows = {};
      Object.keys(boxes).sort(function (a, b) { return (a[0] === "m") - (b[0] === "m"); })
        .forEach(function (id) {
          var c = order.indexOf(boxes[id].layer), r = rows[c] = (rows[c] || 0) + 1;
          pos[id] = {x: 16 + c * (NODE_W + 70), y: 16 + (r - 1) * (NODE_H + 12)};
        });
      edges.forEach(function (e) {
        var a = pos[e[0]], b = pos[e[1]];
        routes.push({from: e[0], to: e[1], points: [
          {x: a.x + NODE_W, y: a.y + NODE_H / 2}, {x: b.x, y: b.y + NODE_H / 2}]});
      });
      width = 32 + order.length * (NODE_W + 70);
      height = 32 + Math.max.apply(null, Object.keys(rows).map(function (c) { return rows[c]; })) * (NODE_H + 12);
    }
    return {pos: pos, routes: routes, more: more, width: width, height: height};
  };

  // A directed path between the two picked nodes over the drawn edges (either way round).
  Graph.prototype.path = function (vis) {
    if (this.picked.length < 2) { return null; }
    var self = this;
    function bfs(a, b, next) {
      var prev = {}, queue = [a];
      prev[a] = a;
      while (queue.length) {
        var i = queue.shift();
        if (i === b) {
          var out = [b];
          while (out[0] !== a) { out.unshift(prev[out[0]]); }
          return out;
        }
        next[i].forEach(function (j) {
          if (vis[j] && !(j in prev)) { prev[j] = i; queue.push(j); }
        });
      }
      return null;
    }
    var a = this.picked[0], b = this.picked[1];
    return bfs(a, b, self.succ) || bfs(b, a, self.succ) || [];
  };

  Graph.prototype.render = function () {
    var d = this.data, self = this, vis = this.visible(), lay = this.layout(vis);
    var path = this.path(vis), onPath = {}, pathEdge = {};
    (path || []).forEach(function (i, k) {
      onPath["n" + i] = true;
      if (k) { pathEdge["n" + path[k - 1] + ">n" + i] = true; }
    });
    var host = this.box.querySelector(".graph-canvas");
    host.textContent = "";
    var svg = el("svg", {"class": "lineage-svg", width: "100%", height: "100%"}, host);
    var port = el("g", {"class": "viewport"}, svg);
    this.svg = svg; this.port = port; this.size = lay;
    var edges = el("g", {"class": "edges"}, port);
    lay.routes.forEach(function (r) {
      var p = r.points, dstr = "M" + p[0].x + "," + p[0].y;
      for (var i = 1; i < p.length - 1; i++) {
        var mx = (p[i].x + p[i + 1].x) / 2, my = (p[i].y + p[i + 1].y) / 2;
        dstr += " Q" + p[i].x + "," + p[i].y + " " + mx + "," + my;
      }
      dstr += " L" + p[p.length - 1].x + "," + p[p.length - 1].y;
      el("path", {d: dstr, "class": "edge" + (pathEdge[r.from + ">" + r.to] ? " on-path" : ""),
                  "data-from": r.from, "data-to": r.to}, edges);
    });
    var nodes = el("g", {"class": "nodes"}, port);
    Object.keys(vis).forEach(function (key) {
      var i = +key, n = d.nodes[i], p = lay.pos["n" + i];
      var cls = "node node-" + n.t + (n.status ? " status-" + n.status : "") +
        (i === d.start ? " start" : "") + (onPath["n" + i] ? " on-path" : "") +
        (self.picked.indexOf(i) >= 0 ? " picked" : "");
      var a = el("a", {href: n.url, "class": cls, "data-index": i}, nodes);
      el("title", {}, a).textContent = describe(n) + (n.status ? " (" + n.status + ")" : "") +
        (i === d.start ? "" : " · Shift+click or P: path end");
      el("rect", {x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: n.t === "d" ? 4 : 14}, a);
      el("text", {x: p.x + 10, y: p.y + 18}, a).textContent = label(n);
      function pick(ev) {
        if (ev.type === "keydown" && ev.key !== "p" && ev.key !== "P") { return; }
        if (ev.type === "click" && !ev.shiftKey) { return; }
        ev.preventDefault();
        var at = self.picked.indexOf(i);
        if (at >= 0) { self.picked.splice(at, 1); }
        else { self.picked = self.picked.slice(-1).concat([i]); }
        self.render();
        var again = self.box.querySelector('a[data-index="' + i + '"]');
        if (again) { again.focus(); }
      }
      a.addEventListener("click", pick);
      a.addEventListener("keydown", pick);
      if (i !== d.start && self.outward(i).length) {
        var left = n.layer < 0, cx = left ? p.x - 9 : p.x + NODE_W + 9, cy = p.y + NODE_H / 2;
        var t = el("g", {"class": "toggle", role: "button", tabindex: "0", "data-index": i,
                         "aria-label": (self.collapsed[i] ? "Expand " : "Collapse ") +
                           (left ? "upstream of " : "downstream of ") + describe(n)}, nodes);
        el("circle", {cx: cx, cy: cy, r: 7}, t);
        el("text", {x: cx, y: cy + 4, "text-anchor": "middle"}, t).textContent =
          self.collapsed[i] ? "+" : "−";
        var flip = function (ev) {
          if (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") { return; }
          ev.preventDefault();
          self.collapsed[i] = !self.collapsed[i];
          self.render();
          var again = self.box.querySelector('.toggle[data-index="' + i + '"]');
          if (again) { again.focus(); }
        };
        t.addEventListener("click", flip);
        t.addEventListener("keydown", flip);
      }
    });
    Object.keys(lay.more).forEach(function (l) {
      var p = lay.pos[lay.more[l]], left = self.layers[l].length - self.shown[l];
      var shownText = "+ " + left.toLocaleString() + " more…";
      var g = el("g", {"class": "node more", tabindex: "0", role: "button", "data-layer": l,
                       "aria-label": shownText + " (show " + Math.min(STEP, left) +
                       " of the hidden nodes at this level)"}, nodes);
      el("rect", {x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 4}, g);
      el("text", {x: p.x + 10, y: p.y + 18}, g).textContent = shownText;
      function expand(ev) {
        if (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") { return; }
        ev.preventDefault();
        self.shown[l] = Math.min(self.layers[l].length, self.shown[l] + STEP);
        self.render();
        var again = self.box.querySelector('.more[data-layer="' + l + '"]');
        if (again) { again.focus(); }
      }
      g.addEventListener("click", expand);
      g.addEventListener("keydown", expand);
    });
    this.drawColumns(vis, lay);
    this.status(vis, path);
    if (!this.view) { this.fit(); } else { this.apply(); this.keepStartInView(); }
  };

  Graph.prototype.drawColumns = function (vis, lay) {
    if (!this.columnEdges) { return; }
    var d = this.data, at = {}, g = el("g", {"class": "column-edges"}, this.port), drawn = 0;
    Object.keys(vis).forEach(function (i) {
      var n = d.nodes[i];
      if (n.t === "d") { at[n.ns + "\u0000" + n.name] = lay.pos["n" + i]; }
    });
    this.columnEdges.forEach(function (e) {
      var a = at[e[0][0] + "\u0000" + e[0][1]], b = at[e[1][0] + "\u0000" + e[1][1]];
      if (!a || !b) { return; }
      var x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2 + 6, x2 = b.x, y2 = b.y + NODE_H / 2 + 6;
      if (x2 < x1) { x1 = a.x; x2 = b.x + NODE_W; }
      var mx = (x1 + x2) / 2, path = el("path", {
        d: "M" + x1 + "," + y1 + " C" + mx + "," + (y1 + 40) + " " + mx + "," + (y2 + 40) + " " + x2 + "," + y2,
        "class": "column-edge"}, g);
      el("title", {}, path).textContent = e[0][1] + "." + e[0][2] + " → " + e[1][1] + "." + e[1][2];
      drawn += 1;
    });
    this.columnsDrawn = drawn;
  };

  Graph.prototype.status = function (vis, path) {
    var d = this.data, p = this.box.querySelector(".graph-status");
    var text = d.nodes.length.toLocaleString() + " nodes, " + d.edges.length.toLocaleString() +
      " edges; " + Object.keys(vis).length.toLocaleString() + " drawn" +
      (d.truncated ? " (truncated: lower the depth)" : "");
    if (path) {
      var a = d.nodes[this.picked[0]], b = d.nodes[this.picked[1]];
      text += path.length ? ". Path " + a.name + " → " + b.name + ": " + (path.length - 1) + " hops"
                          : ". No path between " + a.name + " and " + b.name + " among the drawn nodes";
    } else if (this.picked.length === 1) {
      text += ". Path from " + d.nodes[this.picked[0]].name + ": pick its other end (Shift+click)";
    }
    if (this.columnEdges) {
      text += ". Column " + this.column + ": " + this.columnEdges.length + " column edges, " +
        this.columnsDrawn + " between drawn nodes";
    }
    p.textContent = text;
  };

  // --- pan and zoom ---------------------------------------------------------------------------

  Graph.prototype.apply = function () {
    var v = this.view;
    this.port.setAttribute("transform", "translate(" + v.x.toFixed(1) + "," + v.y.toFixed(1) +
                           ") scale(" + v.k.toFixed(4) + ")");
  };

  Graph.prototype.startBox = function () {
    var r = this.box.querySelector("a.start rect");
    return r ? {x: +r.getAttribute("x"), y: +r.getAttribute("y")} : {x: 0, y: 0};
  };

  // Whole graph when it fits at a readable scale (or `all`: at any scale); else full size,
  // centred on the start node.
  Graph.prototype.fit = function (all) {
    var w = this.svg.clientWidth || 800, h = this.svg.clientHeight || 500;
    var k = Math.max(MIN_K, Math.min(1, w / this.size.width, h / this.size.height));
    if (all || k >= 0.55) {
      this.view = {k: k, x: (w - this.size.width * k) / 2, y: (h - this.size.height * k) / 2};
      this.apply();
    } else {
      this.view = {k: 1, x: 0, y: 0};
      this.centre();
    }
  };

  Graph.prototype.centre = function () {
    var w = this.svg.clientWidth || 800, h = this.svg.clientHeight || 500, s = this.startBox();
    this.view.x = w / 2 - (s.x + NODE_W / 2) * this.view.k;
    this.view.y = h / 2 - (s.y + NODE_H / 2) * this.view.k;
    this.apply();
  };

  Graph.prototype.keepStartInView = function () {
    var w = this.svg.clientWidth || 800, h = this.svg.clientHeight || 500, s = this.startBox();
    var v = this.view, x = v.x + s.x * v.k, y = v.y + s.y * v.k;
    if (x < 0 || y < 0 || x + NODE_W * v.k > w || y + NODE_H * v.k > h) { this.centre(); }
  };

  Graph.prototype.zoom = function (factor, cx, cy) {
    var v = this.view, k = Math.max(MIN_K, Math.min(MAX_K, v.k * factor));
    if (cx === undefined) { cx = (this.svg.clientWidth || 800) / 2; cy = (this.svg.clientHeight || 500) / 2; }
    v.x = cx - (cx - v.x) * (k / v.k);
    v.y = cy - (cy - v.y) * (k / v.k);
    v.k = k;
    this.apply();
  };

  Graph.prototype.bind = function () {
    var self = this, canvas = this.box.querySelector(".graph-canvas"), drag = null;
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = self.svg.getBoundingClientRect();
      self.zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
    }, {passive: false});
    canvas.addEventListener("pointerdown", function (ev) {
      if (ev.target.closest && ev.target.closest("a, .more, .toggle")) { return; }
      drag = {x: ev.clientX, y: ev.clientY, vx: self.view.x, vy: self.view.y};
      canvas.setPointerCapture(ev.pointerId);
      canvas.classList.add("dragging");
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      self.view.x = drag.vx + ev.clientX - drag.x;
      self.view.y = drag.vy + ev.clientY - drag.y;
      self.apply();
    });
    function stop() { drag = null; canvas.classList.remove("dragging"); }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    var actions = {
      "zoom-in": function () { self.zoom(1.25); },
      "zoom-out": function () { self.zoom(0.8); },
      "fit": function () { self.fit(true); },
      "start": function () { self.centre(); },
      "clear-path": function () { self.picked = []; self.render(); },
      "collapse-levels": function () {
        Object.keys(self.shown).forEach(function (l) {
          self.shown[l] = Math.min(FIRST, self.layers[l].length);
        });
        self.render();
      }
    };
    Array.prototype.forEach.call(this.box.querySelectorAll("[data-action]"), function (b) {
      b.addEventListener("click", function () { actions[b.getAttribute("data-action")](); });
    });
    var column = document.getElementById("g-column");
    if (column) {
      column.addEventListener("change", function () { self.loadColumn(column.value); });
      if (column.value) { self.loadColumn(column.value); }
    }
  };

  Graph.prototype.loadColumn = function (field) {
    var self = this;
    if (!field) { this.columnEdges = null; this.render(); return; }
    var src = this.box.getAttribute("data-columns") + "&field=" + encodeURIComponent(field);
    fetch(src, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (body) {
        self.column = field;
        self.columnEdges = body.edges;
        self.render();
        self.box.setAttribute("data-columns-ready", field);
      })
      .catch(function (err) {
        self.box.querySelector(".graph-status").textContent =
          "Column lineage could not be loaded (" + err.message + ").";
      });
  };

  function init() {
    var box = document.getElementById("graph");
    if (!box || !window.fetch) { return; }
    fetch(box.getAttribute("data-src"), {credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        var graph = new Graph(box, data);
        box.querySelector(".graph-tools").hidden = false;
        graph.render();
        graph.bind();
        box.graph = graph;
        box.setAttribute("data-ready", "1");
      })
      .catch(function (err) {
        var p = box.querySelector(".graph-status");
        p.className = "graph-status error";
        p.textContent = "Lineage could not be loaded (" + err.message + "). Use the list view.";
      });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else { init(); }
})();
