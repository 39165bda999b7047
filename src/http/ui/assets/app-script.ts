/**
 * The dashboard's only script, served as /ui/assets/app.js (the CSP allows
 * scripts from 'self' only, and no inline script). Kept as a string module
 * so that `tsc` carries it into dist/ with no copy step; it must not
 * contain a backtick or a dollar-brace.
 *
 * It never writes HTML: every value fetched is put into the page with
 * textContent or drawn on a canvas, so what a relay, a recipient or a
 * template says cannot become markup.
 */
export const APP_SCRIPT = String.raw`'use strict';
(function () {
  var POLL_MS = 2000;
  var MAX_POINTS = 180;
  var page = document.body.getAttribute('data-page');

  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } }).then(
      function (r) {
        if (r.status === 401) {
          window.location.assign('/ui/login');
          throw new Error('signed out');
        }
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      },
    );
  }

  function setText(selector, text) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = text;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return '–';
    return Number(value).toFixed(digits === undefined ? 1 : digits);
  }

  // ── charts: a line chart on a canvas, one per [data-chart] ─────────────
  var CHARTS = {
    throughput: { unit: 'msg/s', series: [
      ['accepted', 'accepted', '#6b7280'], ['delivered', 'delivered', '#16a34a'],
      ['deferred', 'deferred', '#d97706'], ['bounced', 'bounced', '#dc2626']] },
    latency: { unit: 'ms', series: [['p50', 'p50', '#2563eb'], ['p99', 'p99', '#7c3aed']] },
    rates: { unit: '%', series: [
      ['deliveryRate', 'delivery rate', '#16a34a'], ['errorRate', 'error rate', '#dc2626']] },
    queue: { unit: 'messages', series: [['queueDepth', 'waiting', '#0891b2']] },
    age: { unit: 's', series: [['oldestAgeS', 'oldest waiting', '#b45309']] },
    cpu: { unit: '%', series: [['cpu', 'CPU', '#db2777']] },
    memory: { unit: 'MB', series: [['rssMb', 'RSS', '#4b5563'], ['heapMb', 'heap', '#9ca3af']] },
  };

  function drawChart(canvas, spec, points) {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth;
    var height = canvas.clientHeight;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var left = 48, right = 8, top = 8, bottom = 20;
    var plotW = width - left - right, plotH = height - top - bottom;
    var max = 0;
    spec.series.forEach(function (s) {
      points.forEach(function (p) {
        var v = p[s[0]];
        if (typeof v === 'number' && v > max) max = v;
      });
    });
    max = niceMax(max);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#6b7280';
    ctx.strokeStyle = '#e5e7eb';
    ctx.lineWidth = 1;
    for (var g = 0; g <= 4; g++) {
      var y = top + plotH - (plotH * g) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + plotW, y);
      ctx.stroke();
      ctx.fillText(shortNumber((max * g) / 4), 4, y + 4);
    }
    if (points.length > 0) {
      var t0 = points[0].at, t1 = points[points.length - 1].at;
      var span = Math.max(1, t1 - t0);
      ctx.fillText(new Date(t0).toLocaleTimeString(), left, height - 4);
      var last = new Date(t1).toLocaleTimeString();
      ctx.fillText(last, left + plotW - ctx.measureText(last).width, height - 4);
      spec.series.forEach(function (s) {
        ctx.strokeStyle = s[2];
        ctx.lineWidth = 2;
        ctx.beginPath();
        var drawing = false;
        points.forEach(function (p) {
          var v = p[s[0]];
          if (typeof v !== 'number') {
            drawing = false;
            return;
          }
          var x = left + (plotW * (p.at - t0)) / span;
          var yy = top + plotH - (plotH * v) / max;
          if (drawing) ctx.lineTo(x, yy);
          else ctx.moveTo(x, yy);
          drawing = true;
        });
        ctx.stroke();
      });
    }
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var exp = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * exp >= value) return steps[i] * exp;
    return 10 * exp;
  }

  function shortNumber(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return v >= 100 || v === Math.round(v) ? v.toFixed(0) : v.toFixed(1);
  }

  function legend(container, spec) {
    container.textContent = '';
    spec.series.forEach(function (s) {
      var item = document.createElement('span');
      item.className = 'legend-item';
      var swatch = document.createElement('i');
      swatch.style.background = s[2];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s[1]));
      container.appendChild(item);
    });
  }

  function overview() {
    var points = [];
    var since = 0;
    var canvases = document.querySelectorAll('canvas[data-chart]');
    for (var i = 0; i < canvases.length; i++) {
      var name = canvases[i].getAttribute('data-chart');
      var box = canvases[i].parentNode.querySelector('.legend');
      if (box && CHARTS[name]) legend(box, CHARTS[name]);
    }
    function redraw() {
      for (var i = 0; i < canvases.length; i++) {
        var spec = CHARTS[canvases[i].getAttribute('data-chart')];
        if (spec) drawChart(canvases[i], spec, points);
      }
    }
    function tick() {
      getJson('/ui/api/overview?since=' + since)
        .then(function (data) {
          data.points.forEach(function (p) {
            points.push(p);
          });
          if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
          if (points.length > 0) since = points[points.length - 1].at;
          var p = points[points.length - 1] || {};
          setText('[data-stat=accepted]', fmt(p.accepted));
          setText('[data-stat=delivered]', fmt(p.delivered));
          setText('[data-stat=deferred]', fmt(p.deferred));
          setText('[data-stat=bounced]', fmt(p.bounced));
          setText('[data-stat=p50]', fmt(p.p50, 0));
          setText('[data-stat=p99]', fmt(p.p99, 0));
          setText('[data-stat=queueDepth]', fmt(p.queueDepth, 0));
          setText('[data-stat=oldestAgeS]', fmt(p.oldestAgeS, 0));
          setText('[data-stat=totalDelivered]', String(data.totals.delivered));
          setText('[data-stat=totalAccepted]', String(data.totals.accepted));
          setText('[data-stat=firing]', String(data.firing));
          setText('[data-stat=updated]', new Date().toLocaleTimeString());
          document.body.setAttribute('data-points', String(points.length));
          redraw();
        })
        .catch(function () {
          setText('[data-stat=updated]', 'not updating');
        });
    }
    tick();
    setInterval(tick, POLL_MS);
    window.addEventListener('resize', redraw);
  }

  // ── relays: the tables rebuilt from JSON ───────────────────────────────
  function cell(row, text, className) {
    var td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function relays() {
    function tick() {
      getJson('/ui/api/relays')
        .then(function (data) {
          var body = document.querySelector('#relays tbody');
          if (body) {
            body.textContent = '';
            data.relays.forEach(function (r) {
              var tr = document.createElement('tr');
              tr.setAttribute('data-relay', r.name);
              tr.setAttribute('data-state', r.state);
              cell(tr, r.name);
              cell(tr, r.host + ':' + r.port);
              cell(tr, r.state, 'state state-' + r.state);
              cell(tr, r.accepting ? 'yes' : 'no');
              cell(tr, r.inFlight);
              cell(tr, r.connections + ' / ' + r.maxConnections);
              cell(tr, fmt(r.deliveredPerSecond));
              cell(tr, r.errors);
              cell(tr, r.retryAt ? new Date(r.retryAt).toLocaleTimeString() : '');
              body.appendChild(tr);
            });
          }
          var pools = document.querySelector('#pools tbody');
          if (pools) {
            pools.textContent = '';
            data.pools.forEach(function (p) {
              var tr = document.createElement('tr');
              cell(tr, p.name);
              cell(tr, p.strategy);
              cell(tr, p.relays.join(', '));
              cell(tr, p.available + ' / ' + p.relays.length, p.available === 0 ? 'state state-open' : '');
              pools.appendChild(tr);
            });
          }
          var groups = document.querySelector('#groups tbody');
          if (groups) {
            groups.textContent = '';
            data.domainGroups.forEach(function (g) {
              var tr = document.createElement('tr');
              cell(tr, g.name);
              cell(tr, g.factor < 1 ? 'slowed (x' + fmt(g.factor, 2) + ')' : 'normal');
              cell(tr, g.perSecond !== undefined ? fmt(g.perSecond * g.factor, 2) + ' /s' : '–');
              cell(tr, g.maxConnections !== undefined ? g.active + ' / ' + g.maxConnections : g.active);
              cell(tr, g.waiting);
              groups.appendChild(tr);
            });
          }
          setText('[data-stat=updated]', new Date().toLocaleTimeString());
        })
        .catch(function () {
          setText('[data-stat=updated]', 'not updating');
        });
    }
    tick();
    setInterval(tick, POLL_MS);
  }

  // ── one campaign: live progress and results ────────────────────────────
  function campaign() {
    var root = document.getElementById('campaign');
    var id = root && root.getAttribute('data-campaign');
    if (!id) return;
    function pct(ratio) {
      return fmt(ratio * 100) + ' %';
    }
    function tick() {
      getJson('/ui/api/campaigns/' + encodeURIComponent(id))
        .then(function (data) {
          var s = data.stats;
          setText('[data-stat=status]', data.status);
          setText('[data-stat=phase]', data.phase);
          var pause = document.querySelector('[data-stat=pause]');
          if (pause) {
            pause.textContent = data.pause;
            pause.hidden = !data.pause;
          }
          ['targeted', 'sent', 'delivered', 'deferred', 'bounced', 'suppressed', 'opened',
            'clicked', 'unsubscribed'].forEach(function (k) {
            setText('[data-stat=' + k + ']', String(s[k]));
          });
          setText('[data-stat=final]', String(data.final));
          setText('[data-stat=waiting]', String(s.queued + s.sending + s.deferred));
          setText('[data-stat=failed]', String(s.failed + s.expired));
          ['delivery', 'bounce', 'open', 'click', 'unsubscribe'].forEach(function (k) {
            setText('[data-stat=rate-' + k + ']', pct(s.rates[k]));
          });
          setText('[data-stat=winner]', data.winnerText || '–');
          var bar = document.getElementById('progress');
          if (bar) {
            bar.max = Math.max(1, s.targeted);
            bar.value = data.final;
          }
          var forms = document.querySelectorAll('form[data-action]');
          for (var i = 0; i < forms.length; i++) {
            forms[i].hidden = data.actions.indexOf(forms[i].getAttribute('data-action')) < 0;
          }
          var body = document.querySelector('#variants tbody');
          if (body) {
            body.textContent = '';
            s.variants.forEach(function (v) {
              var tr = document.createElement('tr');
              if (data.winner === v.index) tr.className = 'winner';
              cell(tr, v.name + (data.winner === v.index ? ' (winner)' : ''));
              cell(tr, v.targeted);
              cell(tr, v.delivered);
              cell(tr, v.bounced);
              cell(tr, v.opened);
              cell(tr, v.clicked);
              cell(tr, pct(v.openRate));
              cell(tr, pct(v.clickRate));
              body.appendChild(tr);
            });
          }
          var bounces = document.querySelector('#bounces tbody');
          if (bounces) {
            bounces.textContent = '';
            var none = document.querySelector('[data-stat=no-bounces]');
            if (none) none.hidden = Object.keys(s.bouncedByCategory).length > 0;
            Object.keys(s.bouncedByCategory).forEach(function (k) {
              var tr = document.createElement('tr');
              cell(tr, k);
              cell(tr, s.bouncedByCategory[k]);
              bounces.appendChild(tr);
            });
          }
          root.setAttribute('data-status', data.status);
          if (data.completed) clearInterval(timer);
          root.setAttribute('data-delivered', String(s.delivered));
          setText('[data-stat=updated]', new Date().toLocaleTimeString());
        })
        .catch(function () {
          setText('[data-stat=updated]', 'not updating');
        });
    }
    var timer = setInterval(tick, POLL_MS);
    tick();
  }

  if (page === 'overview') overview();
  if (page === 'relays') relays();
  if (page === 'campaigns') campaign();
})();
`;
