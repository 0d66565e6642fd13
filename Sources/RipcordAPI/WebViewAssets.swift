/// The web view served at `/ui`: one page, its script and its style, compiled in (no build step, no
/// files read at run time). Plain HTML, CSS and ES2020; the script puts every string the API sends
/// into the page as text, never as HTML.
enum WebViewAssets {
    static let page = #"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>Ripcord</title>
          <link rel="stylesheet" href="/ui/app.css">
          <script src="/ui/app.js" defer></script>
        </head>
        <body>
          <header>
            <h1>Ripcord</h1>
            <span id="live" class="badge off">offline</span>
            <span id="who"></span>
            <a href="#" id="sign-out" hidden>Sign out</a>
          </header>

          <section id="sign-in" hidden>
            <form id="sign-in-form">
              <h2>Sign in</h2>
              <p>The API token (<code>ripcord tokens create --kind viewer</code> for a read-only one). It is kept in this tab only.</p>
              <label for="token">API token</label>
              <input id="token" type="password" autocomplete="off" spellcheck="false" required>
              <button type="submit">Sign in</button>
              <p id="sign-in-error" class="error" role="alert"></p>
            </form>
          </section>

          <main id="app" hidden>
            <p id="notice" role="status"></p>

            <section>
              <h2>Services</h2>
              <table id="services">
                <thead><tr><th>Service</th><th>Stable</th><th>Candidate</th><th>Phase</th><th>Step</th><th>Traffic to the candidate</th><th>Requests by version</th><th>Rollout</th><th></th></tr></thead>
                <tbody></tbody>
              </table>
            </section>

            <section id="rollout">
              <h2 id="rollout-title">Rollout</h2>
              <p><a href="#" id="follow-latest" hidden>Follow the latest rollout</a></p>
              <dl id="rollout-summary" class="facts"></dl>
              <ol id="timeline" class="events"></ol>
            </section>

            <section>
              <h2>Flags <small id="flags-environment"></small></h2>
              <table id="flags">
                <thead><tr><th>Flag</th><th>State</th><th>Strategies</th><th></th></tr></thead>
                <tbody></tbody>
              </table>
            </section>

            <section>
              <h2>Releases</h2>
              <div id="releases"></div>
            </section>

            <section>
              <h2>Rejected versions</h2>
              <table id="rejected">
                <thead><tr><th>Service</th><th>Version</th><th>Rollout</th><th>Why</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>

            <section>
              <h2>Delivery report <small>last 30 days</small></h2>
              <dl id="report" class="facts"></dl>
              <table id="rollbacks-by-trigger">
                <thead><tr><th>Rollback trigger</th><th>Rollbacks</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>

            <section>
              <h2>Live events</h2>
              <ol id="activity" class="events"></ol>
            </section>
          </main>
        </body>
        </html>

        """#

    static let style = #"""
        :root { --ink: #1d232b; --muted: #5d6b7a; --line: #d8dee6; --bad: #b3261e; --good: #1e7b34; --accent: #2457a6; }
        [hidden] { display: none !important; }
        body { font: 14px/1.45 system-ui, sans-serif; color: var(--ink); margin: 0; background: #f6f8fa; }
        header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1.2em; background: #fff; border-bottom: 1px solid var(--line); }
        header h1 { font-size: 1.2em; margin: 0; }
        #who { color: var(--muted); margin-left: auto; }
        main, #sign-in { padding: 0 1.2em 2em; max-width: 80em; }
        section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .4em 1em 1em; margin-top: 1em; }
        h2 { font-size: 1.05em; }
        h2 small { color: var(--muted); font-weight: normal; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { color: var(--muted); font-weight: 600; }
        progress { width: 6em; vertical-align: middle; }
        .badge { border-radius: 1em; padding: 0 .6em; font-size: .85em; background: var(--line); }
        .badge.on { background: #d7f0dc; color: var(--good); }
        .badge.off { background: #fbe1df; color: var(--bad); }
        .phase-rolledBack, .state-off, .error { color: var(--bad); }
        .phase-promoted, .state-on { color: var(--good); }
        .phase-paused, .phase-analyzing, .phase-starting, .phase-preview, .phase-switched { color: var(--accent); font-weight: 600; }
        .facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
        .facts dt { color: var(--muted); }
        .facts dd { margin: 0; }
        .events { list-style: none; padding: 0; margin: 0; }
        .events li { border-top: 1px solid var(--line); padding: .35em 0; }
        .events time, .events .actor { color: var(--muted); margin-right: .6em; }
        .events .kind { font-family: ui-monospace, monospace; margin-right: .6em; }
        .events li.kind-rollout-rolledBack .kind, .events li.kind-rollout-rolledBack .message { color: var(--bad); font-weight: 600; }
        .evidence { display: flex; flex-wrap: wrap; gap: .2em .8em; margin: .2em 0 0 1em; font-size: .9em; color: var(--muted); }
        .evidence dt { font-family: ui-monospace, monospace; }
        .evidence dt::after { content: ":"; }
        .evidence dd { margin: 0 .4em 0 0; color: var(--ink); }
        .release { border-top: 1px solid var(--line); padding: .4em 0; }
        .release ul { margin: .2em 0; }
        #notice:empty { display: none; }
        #notice { padding: .5em .8em; border-radius: 4px; background: #eef3fb; }
        #notice.error { background: #fbe1df; }
        form { max-width: 32em; }
        input { font: inherit; padding: .3em .4em; }
        #token { width: 100%; box-sizing: border-box; margin: .3em 0 .6em; }
        button { font: inherit; padding: .25em .8em; border-radius: 4px; border: 1px solid var(--line); background: #fff; cursor: pointer; }
        button.danger { border-color: var(--bad); color: var(--bad); }
        .actions { white-space: nowrap; }
        .actions input { width: 10em; }

        """#

    static let script = #"""
        // Ripcord's web view. It reads the admin API with the token this tab signed in with, and follows the
        // event stream (GET /api/v1/events) to stay current without reloading. Every string the API sends is
        // put into the page as text (text nodes, textContent), never as HTML.
        'use strict';

        const TOKEN_KEY = 'ripcord.token';
        const ACTIVE = new Set(['starting', 'paused', 'analyzing', 'preview', 'switched']);
        const ENDINGS = new Set(['rollout.promoted', 'rollout.rolledBack', 'traffic.restored', 'version.unrejected']);
        const environment = new URLSearchParams(location.search).get('environment') || 'default';

        const state = {
          token: sessionStorage.getItem(TOKEN_KEY),
          who: null, // {name, kind} once signed in
          session: 0, // grows at each sign-in and sign-out: what an older session started stops
          stream: null, // the AbortController of the open event stream
          lastEventID: null,
          services: [],
          rows: new Map(), // service name → its table row, updated in place (a half-typed abort reason survives)
          rolloutID: null, // the rollout whose timeline is shown
          pinned: false, // chosen with #rollout/ID rather than the latest
          timelineIDs: new Set(),
          dirty: new Set(),
          timer: null,
          loads: {}, // part → number of its latest load: an older answer never overwrites a newer one
        };

        const $ = (id) => document.getElementById(id);
        const enc = encodeURIComponent;
        const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
        const canAct = () => state.who !== null && state.who.kind === 'admin';
        const isActive = (rollout) => Boolean(rollout) && ACTIVE.has(rollout.phase);

        /** An element with attributes and children; strings become text nodes, never markup. */
        function el(tag, attributes = {}, ...children) {
          const node = document.createElement(tag);
          for (const [name, value] of Object.entries(attributes)) {
            if (value === undefined || value === null || value === false) continue;
            if (name === 'onclick') node.addEventListener('click', value);
            else node.setAttribute(name, String(value));
          }
          for (const child of children.flat(Infinity)) {
            if (child !== undefined && child !== null) node.append(typeof child === 'object' ? child : String(child));
          }
          return node;
        }

        /** Replaces a table's rows; `empty` fills one row when there are none. */
        function fill(table, rows, empty) {
          const columns = table.tHead.rows[0].cells.length;
          table.tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: columns, class: 'empty' }, empty))]));
        }

        /** A <dl> of [key, label, value], leaving out what has no value. */
        function facts(list, entries) {
          list.replaceChildren(
            ...entries
              .filter(([, , value]) => value !== undefined && value !== null && value !== '')
              .flatMap(([key, label, value]) => [el('dt', {}, label), el('dd', { 'data-fact': key }, value)]),
          );
        }

        function notice(text, isError = false) {
          $('notice').textContent = text;
          $('notice').className = isError ? 'error' : '';
        }

        function setLive(live, text) {
          $('live').textContent = text || (live ? 'live' : 'reconnecting…');
          $('live').className = `badge ${live ? 'on' : 'off'}`;
        }

        const formatTime = (at) => new Date(at).toLocaleTimeString([], { hour12: false });
        const percent = (ratio) => `${(ratio * 100).toFixed(1)}%`;

        function duration(seconds) {
          if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
          if (seconds < 120) return `${seconds.toFixed(1)} s`;
          if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
          return `${(seconds / 3600).toFixed(1)} h`;
        }

        const spread = (p) => (p ? `median ${duration(p.medianSeconds)}, p90 ${duration(p.p90Seconds)} (${p.count})` : '—');

        // ---- The API ----

        class SignedOut extends Error {}

        async function errorMessage(response) {
          try {
            const body = await response.json();
            if (body && body.error && body.error.message) return body.error.message;
          } catch (_) {
            // not JSON
          }
          return `HTTP ${response.status}`;
        }

        /** A call to the API with the token; a 401 signs out and shows the sign-in form with the reason. */
        async function api(path, { method = 'GET', body, token = state.token } = {}) {
          const headers = { Accept: 'application/json' };
          if (token) headers.Authorization = `Bearer ${token}`;
          if (body !== undefined) headers['Content-Type'] = 'application/json';
          const response = await fetch(path, {
            method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
          });
          if (response.status === 401) {
            const message = await errorMessage(response);
            signOut(message);
            throw new SignedOut(message);
          }
          if (!response.ok) throw new Error(await errorMessage(response));
          return response.status === 204 ? null : response.json();
        }

        // ---- Signing in and out ----

        function showSignIn(message) {
          $('app').hidden = true;
          $('sign-out').hidden = true;
          $('who').textContent = '';
          $('sign-in').hidden = false;
          $('sign-in-error').textContent = message || '';
          $('token').value = '';
          $('token').focus();
        }

        function signOut(message) {
          state.session += 1;
          if (state.stream) state.stream.abort();
          Object.assign(state, { stream: null, token: null, who: null, lastEventID: null, services: [] });
          state.rows.clear();
          $('services').tBodies[0].replaceChildren();
          sessionStorage.removeItem(TOKEN_KEY);
          setLive(false, 'offline');
          showSignIn(message);
        }

        /** whoami checks the token and says whether this reader may act (a viewer token gets no buttons). */
        async function signIn(token) {
          const who = await api('/api/v1/whoami', { token });
          state.token = token;
          if (token) sessionStorage.setItem(TOKEN_KEY, token);
          state.who = who;
          state.session += 1;
          $('who').textContent = `${who.name} (${who.kind})`;
          $('sign-out').hidden = !token;
          $('sign-in').hidden = true;
          $('app').hidden = false;
          document.body.classList.toggle('read-only', !canAct());
          follow(state.session);
        }

        function signInFailed(error) {
          if (!(error instanceof SignedOut)) showSignIn(error.message);
        }

        // ---- The event stream: fetch with the token (EventSource cannot send one), parsed here ----

        /** Follows GET /api/v1/events while this session lasts, resuming with Last-Event-ID after a drop. */
        async function follow(session) {
          let delay = 1000;
          while (session === state.session) {
            const controller = new AbortController();
            state.stream = controller;
            try {
              const headers = { Accept: 'text/event-stream' };
              if (state.token) headers.Authorization = `Bearer ${state.token}`;
              if (state.lastEventID !== null) headers['Last-Event-ID'] = state.lastEventID;
              const response = await fetch('/api/v1/events', { headers, signal: controller.signal, cache: 'no-store' });
              if (response.status === 401) {
                signOut(await errorMessage(response));
                return;
              }
              if (!response.ok || !response.body) throw new Error(await errorMessage(response));
              setLive(true);
              delay = 1000;
              // The stream is open: whatever it does not carry (what happened before it, or while it was
              // down) is read now.
              refresh('services', 'versions', 'rollout', 'flags', 'releases', 'report');
              await readEvents(response.body, receive);
            } catch (error) {
              if (controller.signal.aborted || session !== state.session) return;
            }
            if (session !== state.session) return;
            setLive(false);
            await sleep(delay);
            delay = Math.min(delay * 2, 15000);
          }
        }

        /** Server-sent events from a response body: `event:`, `data:`, `id:` lines; a blank line ends one. */
        async function readEvents(body, dispatch) {
          const reader = body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          let type = '';
          let data = [];
          let id = null;
          for (;;) {
            const { value: chunk, done } = await reader.read();
            if (done) return;
            buffer += chunk;
            // A CR at the very end may be half of a CRLF: it waits for the next chunk.
            const lines = buffer.split(/\r\n|\n|\r(?!$)/);
            buffer = lines.pop();
            for (const line of lines) {
              if (line === '') {
                if (id !== null) state.lastEventID = id;
                if (data.length > 0) dispatch(type || 'message', data.join('\n'));
                type = '';
                data = [];
                id = null;
              } else if (!line.startsWith(':')) {
                const colon = line.indexOf(':');
                const field = colon < 0 ? line : line.slice(0, colon);
                let text = colon < 0 ? '' : line.slice(colon + 1);
                if (text.startsWith(' ')) text = text.slice(1);
                if (field === 'event') type = text;
                else if (field === 'data') data.push(text);
                else if (field === 'id' && !text.includes('\0')) id = text;
              }
            }
          }
        }

        /** One event from the stream: shown at once, and what it concerns is read again (batched). */
        function receive(kind, data) {
          let event;
          try {
            event = JSON.parse(data);
          } catch (_) {
            return;
          }
          addActivity(event);
          const parts = ['services'];
          if (event.rolloutID !== undefined && event.rolloutID !== null) {
            if (kind === 'rollout.started' && !state.pinned) showRollout(event.rolloutID);
            if (event.rolloutID === state.rolloutID) {
              addToTimeline(event);
              parts.push('rollout');
            }
          }
          if (ENDINGS.has(kind) || kind === 'rollout.started') parts.push('versions', 'report');
          if (kind.startsWith('release.') || (event.evidence && event.evidence.release)) parts.push('releases');
          if (kind.startsWith('flag')) parts.push('flags');
          refresh(...parts);
        }

        // ---- Loading: each part fetches, then renders only if it is still the newest answer ----

        const loaders = {
          services: loadServices, versions: loadVersions, rollout: loadRollout, flags: loadFlags, releases: loadReleases, report: loadReport,
        };

        /** Marks parts to read again; a burst of events costs one read of each part. */
        function refresh(...parts) {
          if (state.who === null) return;
          for (const part of parts) state.dirty.add(part);
          if (state.timer === null) state.timer = setTimeout(flush, 150);
        }

        function flush() {
          state.timer = null;
          const parts = [...state.dirty];
          state.dirty.clear();
          if (state.who === null) return;
          for (const part of parts) load(part);
        }

        async function load(part) {
          const session = state.session;
          const number = (state.loads[part] || 0) + 1;
          state.loads[part] = number;
          try {
            const render = await loaders[part]();
            if (session === state.session && state.loads[part] === number) render();
          } catch (error) {
            if (!(error instanceof SignedOut) && session === state.session) notice(`Could not read ${part}: ${error.message}`, true);
          }
        }

        /** A change made with a button; the answer (or the refusal) is shown, then `parts` are read again. */
        async function act(button, what, path, { body, parts = [], done } = {}) {
          button.disabled = true;
          try {
            const answer = await api(path, { method: 'POST', body });
            notice(done || (answer && answer.message) || `${what}: done`);
          } catch (error) {
            if (!(error instanceof SignedOut)) notice(`${what}: ${error.message}`, true);
          } finally {
            button.disabled = false;
          }
          refresh(...parts);
        }

        // ---- Services ----

        async function loadServices() {
          const services = await api('/api/v1/services');
          // The router's counts by version (cumulative since it started).
          const measured = await Promise.all(
            services.map((service) => api(`/api/v1/services/${enc(service.name)}/measurements`).catch(() => null)),
          );
          return () => {
            state.services = services;
            renderServices(services, measured);
            if (!state.pinned) {
              const latest = latestRollout(services);
              if (latest !== state.rolloutID) showRollout(latest);
            }
          };
        }

        function latestRollout(services) {
          const ids = services.filter((service) => service.rollout).map((service) => service.rollout.id);
          return ids.length ? Math.max(...ids) : null;
        }

        function renderServices(services, measured) {
          const body = $('services').tBodies[0];
          const seen = new Set();
          services.forEach((service, index) => {
            seen.add(service.name);
            let row = state.rows.get(service.name);
            if (!row) {
              row = serviceRow(service.name);
              state.rows.set(service.name, row);
            }
            updateRow(row, service, measured[index]);
            if (body.children[index] !== row.tr) body.insertBefore(row.tr, body.children[index] || null);
          });
          for (const [name, row] of state.rows) {
            if (!seen.has(name)) {
              row.tr.remove();
              state.rows.delete(name);
            }
          }
        }

        function serviceRow(name) {
          const cells = {};
          const tr = el('tr', { 'data-service': name });
          for (const part of ['name', 'stable', 'candidate', 'phase', 'step', 'weight', 'requests', 'rollout', 'actions']) {
            cells[part] = el('td', { class: part });
            tr.append(cells[part]);
          }
          return { tr, cells, actionsKey: null };
        }

        function updateRow(row, service, measurements) {
          const { cells } = row;
          const rollout = service.rollout;
          const active = isActive(rollout);
          cells.name.textContent = service.name;
          cells.stable.textContent = service.stableVersion || '—';
          cells.candidate.textContent = active ? rollout.candidateVersion : '—';
          cells.phase.textContent = rollout ? rollout.phase : '—';
          cells.phase.className = `phase phase-${rollout ? rollout.phase.replace(/[^A-Za-z]/g, '') : 'none'}`;
          cells.step.textContent = active ? `${rollout.step}/${rollout.steps}: ${rollout.currentStep || ''}` : '—';
          const weight = active ? rollout.candidateWeight : 0;
          cells.weight.replaceChildren(el('progress', { max: 100, value: weight }), ` ${weight}%`);
          cells.requests.replaceChildren(...requestsByVersion(measurements));
          cells.rollout.replaceChildren(rollout ? el('a', { href: `#rollout/${Number(rollout.id)}` }, `#${rollout.id}`) : '—');
          const key = `${rollout ? rollout.id : ''}:${active}:${canAct()}`;
          if (row.actionsKey !== key) {
            row.actionsKey = key;
            cells.actions.replaceChildren(...(active && canAct() ? rolloutButtons(service.name) : []));
          }
        }

        function requestsByVersion(measurements) {
          if (!measurements || !measurements.snapshot) return ['—'];
          const lines = [];
          const add = (version, role, metrics) => {
            if (!version || !metrics) return;
            const total = metrics.responsesByClass.reduce((sum, count) => sum + count, 0);
            const errors = metrics.responsesByClass[5] || 0;
            lines.push(el('div', { 'data-role': role }, `${version} (${role}): ${total}`, errors ? el('span', { class: 'error' }, ` · ${errors} 5xx`) : null));
          };
          const { snapshot } = measurements;
          add(measurements.stableVersion, 'stable', snapshot.stable);
          if (snapshot.usesBaseline) add(measurements.stableVersion, 'baseline', snapshot.baseline);
          add(measurements.candidateVersion, 'candidate', snapshot.candidate);
          return lines.length ? lines : ['—'];
        }

        function rolloutButtons(name) {
          const reason = el('input', { type: 'text', placeholder: 'reason', maxlength: 1000, 'aria-label': `Why abort ${name}` });
          const path = `/api/v1/services/${enc(name)}`;
          return [el('span', { class: 'actions' },
            el('button', {
              type: 'button', 'data-action': 'promote', onclick: (event) => act(event.currentTarget, `promote ${name}`, `${path}/promote`, { parts: ['services'] }),
            }, 'Promote'),
            ' ', reason, ' ',
            el('button', {
              type: 'button',
              class: 'danger',
              'data-action': 'abort',
              onclick: (event) => act(event.currentTarget, `abort ${name}`, `${path}/abort`, {
                body: reason.value.trim() ? { reason: reason.value.trim() } : undefined, parts: ['services'],
              }),
            }, 'Abort'))];
        }

        // ---- A rollout's timeline ----

        function showRollout(id) {
          state.rolloutID = id;
          state.timelineIDs = new Set();
          $('timeline').replaceChildren();
          $('rollout-summary').replaceChildren();
          $('rollout-title').textContent = id === null ? 'No rollout yet' : `Rollout #${id}`;
          refresh('rollout');
        }

        function followHash() {
          const match = /^#rollout\/(\d+)$/.exec(location.hash);
          state.pinned = match !== null;
          $('follow-latest').hidden = !state.pinned;
          showRollout(match ? Number(match[1]) : latestRollout(state.services));
        }

        async function loadRollout() {
          const id = state.rolloutID;
          if (id === null) return () => {};
          const detail = await api(`/api/v1/rollouts/${id}`);
          return () => {
            if (id === state.rolloutID) renderRollout(detail);
          };
        }

        function renderRollout({ rollout, events }) {
          $('rollout-title').textContent = `Rollout #${rollout.id}: ${rollout.service} ${rollout.stableVersion || '(none)'} → ${rollout.candidateVersion}`;
          facts($('rollout-summary'), [
            ['phase', 'Phase', rollout.phase],
            ['step', 'Step', `${rollout.step}/${rollout.steps}: ${rollout.currentStep || ''}`],
            ['candidateWeight', 'Candidate weight', `${rollout.candidateWeight}%`],
            ['strategy', 'Strategy', rollout.strategy],
            ['trigger', 'Trigger', rollout.trigger],
            ['reason', 'Reason', rollout.reason],
            ['release', 'Release', rollout.release],
            ['waitingFor', 'Waiting for', rollout.waitingFor],
            ['startedAt', 'Started', rollout.startedAt],
            ['finishedAt', 'Finished', rollout.finishedAt],
          ]);
          for (const event of events) addToTimeline(event);
        }

        function eventItem(event, withService) {
          const evidence = Object.entries(event.evidence || {});
          return el('li', { class: `kind-${String(event.kind).replace(/[^A-Za-z0-9]/g, '-')}`, 'data-event-id': event.id, 'data-kind': event.kind },
            el('time', { datetime: event.at, title: event.at }, formatTime(event.at)),
            withService && event.service ? el('span', { class: 'actor' }, event.service) : null,
            el('span', { class: 'kind' }, event.kind),
            event.actor ? el('span', { class: 'actor' }, `by ${event.actor}`) : null,
            el('span', { class: 'message' }, event.message),
            evidence.length ? el('dl', { class: 'evidence' }, evidence.map(([key, value]) => [el('dt', {}, key), el('dd', { 'data-key': key }, value)])) : null);
        }

        /** Adds an event to the timeline once, in id order (the stream and a re-read may both bring it). */
        function addToTimeline(event) {
          if (state.timelineIDs.has(event.id)) return;
          state.timelineIDs.add(event.id);
          const list = $('timeline');
          const later = [...list.children].find((item) => Number(item.dataset.eventId) > event.id);
          list.insertBefore(eventItem(event, false), later || null);
        }

        function addActivity(event) {
          const list = $('activity');
          list.prepend(eventItem(event, true));
          while (list.children.length > 50) list.lastElementChild.remove();
        }

        // ---- Flags, releases, rejected versions, the report ----

        async function loadFlags() {
          const flags = await api(`/api/v1/flags?environment=${enc(environment)}`);
          return () => fill($('flags'), flags.features.map(flagRow), 'No flags.');
        }

        function flagRow(flag) {
          const path = `/api/v1/flags/${enc(flag.name)}/disable?environment=${enc(environment)}`;
          return el('tr', { 'data-flag': flag.name },
            el('td', { class: 'name' }, flag.name),
            el('td', { class: `state state-${flag.enabled ? 'on' : 'off'}` }, flag.enabled ? 'on' : 'off'),
            el('td', {}, (flag.strategies || []).length),
            el('td', {}, flag.enabled && canAct()
              ? el('button', {
                type: 'button', class: 'danger', 'data-action': 'kill', onclick: (event) => act(event.currentTarget, `kill switch ${flag.name}`, path, {
                  parts: ['flags'], done: `${flag.name} is off in ${environment} (kill switch)`,
                }),
              }, 'Kill switch')
              : null));
        }

        async function loadReleases() {
          const releases = await api('/api/v1/releases?limit=10');
          const details = await Promise.all(releases.slice(0, 5).map((release) => api(`/api/v1/releases/${Number(release.id)}`)));
          return () => {
            const container = $('releases');
            container.replaceChildren(...releases.map((release, index) => releaseItem(release, details[index])));
            if (!releases.length) container.append(el('p', { class: 'empty' }, 'No releases.'));
          };
        }

        function releaseItem(release, detail) {
          const cause = release.causeService
            ? el('p', { class: 'error' }, `brought down by ${release.causeService} (${release.causeTrigger || '?'})${release.reason ? `: ${release.reason}` : ''}`)
            : null;
          const members = detail
            ? detail.members.map((member) => el('li', {},
              `${member.service} ${member.previousVersion || '(none)'} → ${member.version}: `,
              member.rollout ? el('a', { href: `#rollout/${Number(member.rollout.id)}` }, `${member.rollout.phase} (#${member.rollout.id})`) : 'not started'))
            : release.services.map((text) => el('li', {}, text));
          return el('article', { class: 'release', 'data-release-id': release.id },
            el('strong', {}, `#${release.id} ${release.name}`), ` ${release.kind}, `,
            el('span', { class: `phase phase-${String(release.phase).replace(/[^A-Za-z]/g, '')}` }, release.phase),
            ` · ${release.createdAt}`, cause, el('ul', {}, members));
        }

        async function loadVersions() {
          const services = await api('/api/v1/services');
          const lists = await Promise.all(services.map((service) => api(`/api/v1/services/${enc(service.name)}/versions`)
            .then((versions) => versions.map((version) => ({ service: service.name, ...version })))));
          const rejected = lists.flat().filter((version) => version.rejected);
          return () => fill($('rejected'), rejected.map((version) => el('tr', { 'data-service': version.service, 'data-version': version.version },
            el('td', {}, version.service),
            el('td', {}, version.version),
            el('td', {}, version.rolloutID ? el('a', { href: `#rollout/${Number(version.rolloutID)}` }, `#${version.rolloutID}`) : '—'),
            el('td', {}, version.rejected))), 'No rejected versions.');
        }

        async function loadReport() {
          const report = await api('/api/v1/report?since=30d');
          return () => {
            const all = report.overall;
            facts($('report'), [
              ['deployments', 'Deployments', `${all.deployments} (${all.promoted} promoted, ${all.rolledBack} rolled back, of which ${all.aborted} aborted)`],
              ['inProgress', 'In progress', all.inProgress],
              ['deploymentsPerDay', 'Promotions per day', all.deploymentsPerDay.toFixed(2)],
              ['changeFailureRate', 'Change failure rate', all.changeFailureRate === undefined || all.changeFailureRate === null ? '—' : percent(all.changeFailureRate)],
              ['timeToDetect', 'Time to detect', spread(all.timeToDetect)],
              ['timeToRestore', 'Time to restore', spread(all.timeToRestore)],
              ['caughtBeforeTraffic', 'Caught before any traffic', all.caughtBeforeTraffic],
            ]);
            const triggers = Object.entries(all.rollbacksByTrigger || {}).sort((a, b) => b[1] - a[1]);
            fill($('rollbacks-by-trigger'), triggers.map(([trigger, count]) => el('tr', { 'data-trigger': trigger }, el('td', {}, trigger), el('td', {}, count))), 'No rollbacks.');
          };
        }

        // ---- Start ----

        async function boot() {
          $('flags-environment').textContent = `environment ${environment}`;
          $('sign-in-form').addEventListener('submit', (event) => {
            event.preventDefault();
            signIn($('token').value.trim()).catch(signInFailed);
          });
          $('sign-out').addEventListener('click', (event) => {
            event.preventDefault();
            signOut('');
          });
          window.addEventListener('hashchange', followHash);
          followHash();
          if (state.token) {
            signIn(state.token).catch(signInFailed);
            return;
          }
          // A server without tokens (the loopback demo) answers whoami without one.
          const response = await fetch('/api/v1/whoami', { cache: 'no-store' }).catch(() => null);
          if (response && response.ok) signIn('').catch(signInFailed);
          else showSignIn('');
        }

        boot();

        """#
}
