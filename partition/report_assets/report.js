// tvm-tensorrt partition report: lays the graph out and draws it in the page's SVG.
// The layout is report_view.py's, kept twice on purpose: it must rerun here whenever a subgraph
// opens or closes. Longest-path ranks top to bottom, one barycenter sweep per rank.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var nodes = data.nodes, groups = data.groups, edges = data.edges;
  var NODE_W = 170, NODE_H = 36, GROUP_W = 220, GROUP_H = 54, GAP_X = 30, GAP_Y = 42, PAD = 14;
  var svg = document.getElementById("graph"), view = document.getElementById("view");
  var groupById = {};
  groups.forEach(function (g) { groupById[g.id] = g; });
  var collapsed = new Set(data.open_collapsed ? groups.map(function (g) { return g.id; }) : []);
  var fusions = data.fusions || [];  // fused patterns: one box each until opened to their pieces
  var closedFusions = new Set(fusions.map(function (_, k) { return k; }));
  var highlighted = new Set(), matches = [], matched = new Set(), matchedGroups = new Set();
  var matchAt = -1, selected = null, elements = {};
  var placed = {}, bounds = { x: 0, y: 0, w: 1, h: 1 }, camera = { x: 0, y: 0, scale: 1 };
  var viewSize = { w: view.clientWidth, h: view.clientHeight };

  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function clip(text, limit) { text = String(text); return text.length <= limit ? text : text.slice(0, limit - 1) + "\u2026"; }
  function count(n) {  // as report.py's format_count: exact below 10 000, else 3 significant digits
    if (n < 1e4) return String(n);
    var units = [[1e3, "k"], [1e6, "M"], [1e9, "G"], [1e12, "T"]];
    for (var i = 0; i < units.length; i++) {
      var v = Number((n / units[i][0]).toPrecision(3));
      if (v < 1000 || i === units.length - 1) return v + " " + units[i][1];
    }
  }
  function unitOf(i) {
    var n = nodes[i], g = n.subgraph;
    if (g && collapsed.has(g)) return "g:" + g;
    if (n.fusion !== null && n.fusion !== undefined && closedFusions.has(n.fusion)) return "f:" + n.fusion;
    return "n:" + i;
  }
  function anyMember(f, set) { return f.members.some(function (i) { return set.has(i); }); }

  // ---- layout --------------------------------------------------------------------------------
  function layout() {
    var keys = [], seen = {}, preds = {}, succs = {};
    nodes.forEach(function (_, i) {
      var u = unitOf(i);
      if (!seen[u]) { seen[u] = true; keys.push(u); preds[u] = []; succs[u] = []; }
    });
    var pairs = {};
    edges.forEach(function (e) {
      var a = unitOf(e[0]), b = unitOf(e[1]), key = a + ">" + b;
      if (a !== b && !pairs[key]) { pairs[key] = true; preds[b].push(a); succs[a].push(b); }
    });
    var waiting = {}, rank = {}, order = [];
    keys.forEach(function (u) { waiting[u] = preds[u].length; if (!waiting[u]) order.push(u); });
    for (var head = 0; head < order.length; head++) {
      var u = order[head], r = 0;
      preds[u].forEach(function (p) { r = Math.max(r, rank[p] + 1); });
      rank[u] = r;
      succs[u].forEach(function (s) { if (--waiting[s] === 0) order.push(s); });
    }
    var deepest = order.reduce(function (m, u) { return Math.max(m, rank[u]); }, -1);
    keys.forEach(function (u) {  // on a cycle (which regions never form): still drawn, below the rest
      if (rank[u] === undefined) { rank[u] = ++deepest; order.push(u); }
    });
    var rows = [];
    order.forEach(function (u) { (rows[rank[u]] = rows[rank[u]] || []).push(u); });
    var slot = {}, width = 0;
    rows.forEach(function (row) {
      var first = {};
      row.forEach(function (u, i) { first[u] = i; });
      var centre = {};
      row.forEach(function (u) {
        var above = preds[u].filter(function (p) { return slot[p] !== undefined; }).map(function (p) { return slot[p]; });
        centre[u] = above.length ? above.reduce(function (a, b) { return a + b; }, 0) / above.length : first[u];
      });
      row.sort(function (a, b) { return centre[a] - centre[b] || first[a] - first[b]; });
      row.forEach(function (u, i) { slot[u] = i; });
      width = Math.max(width, row.length);
    });
    placed = {};
    var y = 0, span = width * (GROUP_W + GAP_X);
    rows.forEach(function (row) {
      var h = 0;
      row.forEach(function (u, i) {
        var isGroup = u.charAt(0) === "g", w = isGroup ? GROUP_W : NODE_W, uh = isGroup ? GROUP_H : NODE_H;
        var x = span / 2 + (i - (row.length - 1) / 2) * (GROUP_W + GAP_X);
        placed[u] = { x: x - w / 2, y: y, w: w, h: uh, preds: preds[u] };
        h = Math.max(h, uh);
      });
      y += h + GAP_Y;
    });
    bounds = { x: -PAD, y: -PAD - 24, w: span + 2 * PAD, h: y + 2 * PAD + 24 };
  }

  // ---- drawing -------------------------------------------------------------------------------
  function unitClasses(u) {
    var c = ["unit"];
    if (u.charAt(0) === "g") {
      c.push("group");
      if (matchedGroups.has(u.slice(2))) c.push("match");
    } else if (u.charAt(0) === "f") {
      var f = fusions[+u.slice(2)];
      c.push("fused", "trt");
      if (anyMember(f, matched)) c.push("match");
      if (anyMember(f, highlighted)) c.push("hl");
    } else {
      var i = +u.slice(2), n = nodes[i];
      c.push(n.kind === "op" ? "op" : "io");
      if (n.kind === "op") c.push(n.subgraph ? "trt" : "tvm");
      if (matched.has(i)) c.push("match");
      if (highlighted.has(i)) c.push("hl");
    }
    if (selected === u) c.push("selected");
    return c.join(" ");
  }

  function unitMarkup(u) {
    var p = placed[u], lines, style = "";
    if (u.charAt(0) === "g") {
      var g = groupById[u.slice(2)];
      lines = [g.id, g.ops + " ops, " + count(g.macs) + " MACs"];
      style = ' style="fill:' + g.colour + ';fill-opacity:0.22;stroke:' + g.colour + '"';
    } else if (u.charAt(0) === "f") {
      var f = fusions[+u.slice(2)], fc = groupById[f.subgraph].colour;
      lines = [f.key + " (" + f.members.length + " ops)", f.layer || "fused"];
      style = ' style="fill:' + fc + ';fill-opacity:0.38;stroke:' + fc + '"';
    } else {
      var n = nodes[+u.slice(2)];
      if (n.kind === "op") {
        var inPattern = n.fusion !== null && n.fusion !== undefined ? " \u00b7 " + fusions[n.fusion].key : "";
        lines = [n.label, n.subgraph ? n.subgraph + inPattern : "TVM"];
        if (n.subgraph) { var c = groupById[n.subgraph].colour; style = ' style="fill:' + c + ';fill-opacity:0.16;stroke:' + c + '"'; }
      } else {
        lines = n.kind === "input" ? [n.name, "input"] : [n.label, n.name];
      }
    }
    var cx = p.x + p.w / 2, cy = p.y + p.h / 2, text = "";
    lines.forEach(function (line, k) {
      text += '<text x="' + cx + '" y="' + (cy + (k - (lines.length - 1) / 2) * 13 + 4) + '" text-anchor="middle"' +
        (k === 0 ? ' class="title"' : "") + ">" + esc(clip(line, 28)) + "</text>";
    });
    return '<g class="' + unitClasses(u) + '" data-unit="' + u + '"><rect x="' + p.x + '" y="' + p.y + '" width="' + p.w +
      '" height="' + p.h + '" rx="6"' + style + "></rect>" + text + "</g>";
  }

  function grow(b, p) {  // the bounding box b (null: none yet) grown to hold the placed box p
    if (!b) return { x0: p.x, y0: p.y, x1: p.x + p.w, y1: p.y + p.h };
    b.x0 = Math.min(b.x0, p.x); b.y0 = Math.min(b.y0, p.y); b.x1 = Math.max(b.x1, p.x + p.w); b.y1 = Math.max(b.y1, p.y + p.h);
    return b;
  }
  function frames() {  // an open subgraph: a dashed frame around its ops, its title closes it
    var box = {}, out = [];
    nodes.forEach(function (n, i) {
      if (!n.subgraph || collapsed.has(n.subgraph)) return;
      box[n.subgraph] = grow(box[n.subgraph], placed[unitOf(i)]);  // a piece of a closed fused pattern: its box
    });
    var titles = {};
    Object.keys(box).forEach(function (id) {
      var b = box[id], c = groupById[id].colour, tx = b.x0 - 2, ty = b.y0 - 8;
      while (titles[Math.round(tx / 10) + "," + Math.round(ty / 10)]) tx += 130;  // frames that share a corner
      titles[Math.round(tx / 10) + "," + Math.round(ty / 10)] = true;
      out.push('<g class="frame"><rect x="' + (b.x0 - 8) + '" y="' + (b.y0 - 22) + '" width="' +
        (b.x1 - b.x0 + 16) + '" height="' + (b.y1 - b.y0 + 30) + '" rx="8" style="fill:' + c + ';stroke:' + c + '"></rect>' +
        '<text class="frame-title" data-frame="' + esc(id) + '" x="' + tx + '" y="' + ty + '" style="fill:' + c + '">' +
        esc(id) + " \u25be close</text></g>");
    });
    return out.join("") + fusionFrames();
  }
  function fusionFrames() {  // an open fused pattern: a dotted frame around its pieces, its title closes it
    var out = [];
    fusions.forEach(function (f, k) {
      if (closedFusions.has(k) || collapsed.has(f.subgraph)) return;
      var b = null;
      f.members.forEach(function (i) {
        var p = placed["n:" + i];
        if (p) b = grow(b, p);
      });
      if (!b) return;
      var c = groupById[f.subgraph].colour;
      // a short title at the top right: the subgraph frame's own title may sit at the top left
      // (the pieces' boxes name the pattern)
      out.push('<g class="fuse-frame"><rect x="' + (b.x0 - 5) + '" y="' + (b.y0 - 5) + '" width="' + (b.x1 - b.x0 + 10) +
        '" height="' + (b.y1 - b.y0 + 10) + '" rx="6" style="stroke:' + c + '"></rect><text class="fuse-title" data-fusion="' +
        k + '" x="' + (b.x1 + 4) + '" y="' + (b.y0 - 8) + '" text-anchor="end" style="fill:' + c + '">\u25b4 close</text></g>');
    });
    return out.join("");
  }

  function draw() {
    var parts = [frames()];
    Object.keys(placed).forEach(function (u) {
      var q = placed[u];
      q.preds.forEach(function (a) {
        var p = placed[a], x1 = p.x + p.w / 2, y1 = p.y + p.h, x2 = q.x + q.w / 2, y2 = q.y;
        var bend = Math.max(GAP_Y / 2, (y2 - y1) / 3);
        parts.push('<path class="edge" d="M' + x1 + "," + y1 + " C" + x1 + "," + (y1 + bend) + " " + x2 + "," + (y2 - bend) +
          " " + x2 + "," + y2 + '"></path>');
      });
    });
    Object.keys(placed).forEach(function (u) { parts.push(unitMarkup(u)); });
    svg.innerHTML = '<g id="camera">' + parts.join("") + "</g>";
    elements = {};
    svg.querySelectorAll("[data-unit]").forEach(function (el) { elements[el.getAttribute("data-unit")] = el; });
    svg.classList.toggle("highlighting", highlighted.size > 0);
    applyCamera();
  }
  function restyle() {  // selection, search and highlights change classes only: no redraw
    Object.keys(elements).forEach(function (u) { elements[u].setAttribute("class", unitClasses(u)); });
    svg.classList.toggle("highlighting", highlighted.size > 0);
  }

  // ---- camera: pan by dragging, zoom with the wheel ------------------------------------------
  // A transform on one group, not the viewBox: moving the camera then costs no SVG relayout.
  var cameraQueued = false;
  function applyCamera() {
    if (cameraQueued) return;
    cameraQueued = true;
    requestAnimationFrame(function () {
      cameraQueued = false;
      var g = document.getElementById("camera"), s = camera.scale;
      if (g) g.setAttribute("transform", "matrix(" + s + ",0,0," + s + "," + (-camera.x * s) + "," + (-camera.y * s) + ")");
    });
  }
  function fit(readable) {  // the whole width; to start, no smaller than readable, from the top
    camera.scale = Math.max(readable ? 0.3 : 0.02, Math.min(1.2, viewSize.w / bounds.w));
    camera.x = bounds.x + (bounds.w - viewSize.w / camera.scale) / 2;
    camera.y = bounds.y;
    applyCamera();
  }
  function centreOn(u) {
    var p = placed[u];
    if (!p) return;
    camera.x = p.x + p.w / 2 - viewSize.w / camera.scale / 2;
    camera.y = p.y + p.h / 2 - viewSize.h / camera.scale / 2;
    applyCamera();
  }
  view.addEventListener("wheel", function (e) {
    e.preventDefault();
    if (!e.deltaY) return;  // a sideways scroll
    var r = view.getBoundingClientRect(), factor = Math.exp(-Math.max(-300, Math.min(300, e.deltaY)) * 0.002);
    var px = camera.x + (e.clientX - r.left) / camera.scale, py = camera.y + (e.clientY - r.top) / camera.scale;
    camera.scale = Math.max(0.05, Math.min(4, camera.scale * factor));
    camera.x = px - (e.clientX - r.left) / camera.scale;
    camera.y = py - (e.clientY - r.top) / camera.scale;
    applyCamera();
  }, { passive: false });
  var drag = null;
  view.addEventListener("mousedown", function (e) { drag = { x: e.clientX, y: e.clientY, moved: false }; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; view.classList.add("dragging"); }
    if (drag.moved) {
      camera.x -= dx / camera.scale; camera.y -= dy / camera.scale;
      drag.x = e.clientX; drag.y = e.clientY;
      applyCamera();
    }
  });
  window.addEventListener("mouseup", function () { view.classList.remove("dragging"); setTimeout(function () { drag = null; }, 0); });
  window.addEventListener("resize", function () { viewSize = { w: view.clientWidth, h: view.clientHeight }; applyCamera(); });

  // ---- details -------------------------------------------------------------------------------
  function row(name, value, cls) {
    return "<tr><td>" + esc(name) + '</td><td' + (cls ? ' class="' + cls + '"' : "") + ">" + esc(value) + "</td></tr>";
  }
  function details(u) {
    var html;
    if (u.charAt(0) === "g") {
      var g = groupById[u.slice(2)];
      html = "<table>" + row("TensorRT subgraph", g.id) + row("operators", g.ops) + row("MACs", count(g.macs)) +
        row("ops", g.histogram.map(function (h) { return h[0] + " x" + h[1]; }).join(", ")) + "</table>" +
        "<p>Click to open it.</p>";
    } else if (u.charAt(0) === "f") {
      var f = fusions[+u.slice(2)];
      html = "<table>" + row("fused pattern", f.key) + row("TensorRT", f.layer || "") +
        (f.layers.length ? row("layers", f.layers.filter(function (t, k, all) { return t !== "CONSTANT" && all.indexOf(t) === k; }).join(", ")) : "") +
        row("pieces", f.pieces.map(function (p) { return p.op.replace(/^relax\./, ""); }).join(", ")) +
        row("nodes", f.pieces.map(function (p) { return p.onnx || p.name; }).join(", ")) +
        row("runs in", "TensorRT, subgraph " + f.subgraph) + "</table><p>Click to open it.</p>";
    } else {
      var n = nodes[+u.slice(2)];
      if (n.kind !== "op") {
        html = "<table>" + row("model " + n.kind, n.name) + "</table>";
      } else {
        html = "<table>" + row("op", n.op) + row("name", n.name) + (n.onnx ? row("ONNX node", n.onnx) : "") +
          row("shape", n.shapes.join(", ")) + row("dtype", n.dtype || "") + row("MACs", count(n.macs)) +
          row("runs in", n.subgraph ? "TensorRT, subgraph " + n.subgraph : "TVM") +
          (n.subgraph ? "" : row("reason", n.reason || "", "reason")) +
          (n.fusion !== null && n.fusion !== undefined ? row("fused into", fusions[n.fusion].key + ": " + (fusions[n.fusion].layer || "")) : "") +
          (n.not_fused || []).map(function (r) { return row("not fused", r[0] + ": " + r[1], "reason"); }).join("") + "</table>";
      }
    }
    document.getElementById("details").innerHTML = html;
  }
  svg.addEventListener("mouseover", function (e) {
    var g = e.target.closest("[data-unit]");
    if (g && !drag) details(g.getAttribute("data-unit"));
  });
  svg.addEventListener("click", function (e) {
    if (drag && drag.moved) return;
    var title = e.target.closest(".frame-title"), g = e.target.closest("[data-unit]");
    var fuseTitle = e.target.closest(".fuse-title");
    if (title) { setCollapsed(title.getAttribute("data-frame"), true); return; }
    if (fuseTitle) { setFusion(+fuseTitle.getAttribute("data-fusion"), true); return; }
    if (!g) return;
    var u = g.getAttribute("data-unit");
    if (u.charAt(0) === "g") { setCollapsed(u.slice(2), false); return; }
    if (u.charAt(0) === "f") { setFusion(+u.slice(2), false); return; }
    selected = u; details(u); restyle();
  });
  function setCollapsed(id, closed) {
    if (closed) collapsed.add(id); else collapsed.delete(id);
    relayout();
    centreOn(closed ? "g:" + id : firstUnitOf(id));
  }
  function setFusion(k, closed) {
    if (closed) closedFusions.add(k); else closedFusions.delete(k);
    relayout();
    centreOn(unitOf(fusions[k].members[0]));
  }
  function firstUnitOf(id) {
    for (var i = 0; i < nodes.length; i++) if (nodes[i].subgraph === id) return "n:" + i;
    return null;
  }
  function relayout() { layout(); draw(); }

  // ---- header, search, reasons ---------------------------------------------------------------
  var h = data.header;
  document.getElementById("totals").innerHTML =
    "<span><b>" + h.ops_offloaded + "</b> of " + h.ops_total + " ops offloaded</span>" +
    "<span><b>" + count(h.macs_offloaded) + "</b> of " + count(h.macs_total) + " MACs offloaded</span>" +
    "<span><b>" + groups.length + "</b> TensorRT subgraph" + (groups.length === 1 ? "" : "s") + "</span>";
  document.getElementById("options").textContent = h.options;
  document.getElementById("legend").innerHTML = groups.slice(0, 8).map(function (g) {
    return '<span><i class="swatch" style="background:' + g.colour + '"></i>' + esc(g.id) + "</span>";
  }).join("") + '<span><i class="swatch" style="background:#eee;border-style:dashed"></i>TVM</span>';

  var reasonList = document.getElementById("reasons");
  reasonList.innerHTML = data.reasons.length ? data.reasons.map(function (r, k) {
    return '<li data-reason="' + k + '"><span class="count">' + r.ops.length + "</span>" + esc(r.reason) + "</li>";
  }).join("") : "<li>none: every operator runs in TensorRT</li>";
  reasonList.addEventListener("click", function (e) {
    var li = e.target.closest("[data-reason]");
    if (!li) return;
    var active = li.classList.contains("active");
    reasonList.querySelectorAll("li").forEach(function (x) { x.classList.remove("active"); });
    highlighted = new Set(active ? [] : data.reasons[+li.getAttribute("data-reason")].ops);
    if (!active) li.classList.add("active");
    restyle();
    if (!active) centreOn(unitOf(data.reasons[+li.getAttribute("data-reason")].ops[0]));
  });

  // the fused patterns by key, then the patterns that did not apply: a click highlights their ops
  var fusionItems = [], byKey = {};
  fusions.forEach(function (f) {
    if (!byKey[f.key]) { byKey[f.key] = { text: f.key + ": " + (f.layer || "fused"), count: 0, ops: [] }; fusionItems.push(byKey[f.key]); }
    byKey[f.key].count++;
    byKey[f.key].ops = byKey[f.key].ops.concat(f.members);
  });
  (data.unfused || []).forEach(function (r) {
    if (r.node === null || r.node === undefined) return;
    fusionItems.push({ text: r.key + " not fused at " + (r.onnx || r.at) + ": " + r.reason, ops: [r.node], unfused: true });
  });
  var fusionList = document.getElementById("fusions");
  fusionList.innerHTML = fusionItems.length ? fusionItems.map(function (item, k) {
    return '<li data-fusion-item="' + k + '"' + (item.unfused ? ' class="unfused"' : "") + ">" +
      (item.unfused ? "" : '<span class="count">' + item.count + "</span>") + esc(item.text) + "</li>";
  }).join("") : "<li>none: no pattern the network builder fuses</li>";
  fusionList.addEventListener("click", function (e) {
    var li = e.target.closest("[data-fusion-item]");
    if (!li) return;
    var active = li.classList.contains("active"), item = fusionItems[+li.getAttribute("data-fusion-item")];
    fusionList.querySelectorAll("li").forEach(function (x) { x.classList.remove("active"); });
    highlighted = new Set(active ? [] : item.ops);
    if (!active) li.classList.add("active");
    restyle();
    if (!active) centreOn(unitOf(item.ops[0]));
  });

  var search = document.getElementById("search"), searchCount = document.getElementById("search-count"), pending = null;
  function runSearch() {  // a subgraph by its exact name; anything else by substring of op, name, ONNX node
    pending = null;
    var q = search.value.trim().toLowerCase();
    matches = [];
    if (q) nodes.forEach(function (n, i) {
      if (n.kind === "output") return;  // named after the op that makes it: would count it twice
      var hit = groupById[q] ? n.subgraph === q
        : [n.label, n.name, n.onnx || "", n.subgraph || "", n.fusion !== null && n.fusion !== undefined ? fusions[n.fusion].key : ""]
          .join("\n").toLowerCase().indexOf(q) >= 0;
      if (hit) matches.push(i);
    });
    matched = new Set(matches);
    matchedGroups = new Set(matches.map(function (i) { return nodes[i].subgraph; }).filter(Boolean));
    matchAt = -1;
    searchCount.textContent = q ? matches.length + " match" + (matches.length === 1 ? "" : "es") : "";
    restyle();
  }
  search.addEventListener("input", function () { clearTimeout(pending); pending = setTimeout(runSearch, 120); });
  search.addEventListener("keydown", function (e) {  // Enter: the next box holding a match
    if (e.key !== "Enter") return;
    if (pending) { clearTimeout(pending); runSearch(); }
    var matchUnits = Array.from(new Set(matches.map(unitOf)));
    if (!matchUnits.length) return;
    matchAt = (matchAt + 1) % matchUnits.length;
    centreOn(matchUnits[matchAt]);
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    groups.forEach(function (g) { collapsed.add(g.id); });
    fusions.forEach(function (_, k) { closedFusions.add(k); });
    relayout(); fit(true);
  });
  document.getElementById("expand-all").addEventListener("click", function () {
    collapsed.clear(); closedFusions.clear(); relayout(); fit(true);
  });
  document.getElementById("fit").addEventListener("click", function () { fit(false); });

  relayout();
  fit(true);
  document.body.setAttribute("data-ready", "1");
})();
