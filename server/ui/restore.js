/*
 * restore.js: restore from backup repositories in the page of `shelf serve`.
 *
 * The repositories the server offers (a password asked for one that is
 * encrypted: sent once, kept by the server in memory only, the field
 * cleared); their snapshots, newest first, with date, size and contents;
 * what a snapshot holds (samples, patches, projects) with what a restore
 * would do to each now, filtered by words; items chosen one by one or the
 * whole snapshot; the dialog: a preview (POST /api/restore/preview, nothing
 * written) with counts and sizes per action, each conflict with overwrite,
 * keep both or skip and "apply to all"; the apply (POST /api/restore/apply
 * with the preview's id and the plan it expects; 409 when the library
 * changed since: preview again); the progress of the restore, which runs
 * on the server's worker, polled; and the audit log, newest first.  Uses
 * app.js's api(), post(), say(), $() and docs.js's el(), button(), when(), bytesText().
 */
'use strict';

/* One scope of its own: app.js and docs.js are classic scripts too, and a
 * function of the same name at the top level would replace theirs. */
const restoreShow = (() => {

    const rst = {
        repos: [],
        repo: 0,                /* the repository chosen (1-based), 0: none */
        snaps: [],
        snap: '',               /* the snapshot chosen */
        items: [],              /* what it holds (the filter's answer) */
        chosen: new Set(),      /* "KIND:ID" */
        gen: 0,                 /* generation of the items' query */
        dialog: null,           /* {preview, expect, conflicts, choices, opener} */
        poll: 0,
    };

    const rui = {
        repos: $('repo-list'), snaps: $('snap-list'), q: $('rq'), whole: $('r-whole'), chosen: $('r-chosen'),
        preview: $('r-preview'), summary: $('snap-summary'), items: $('item-list'), audit: $('audit-list'),
        dialog: $('restore-dialog'), what: $('r-what'), counts: $('r-counts'), conflictBox: $('r-conflict-box'),
        conflicts: $('r-conflicts'), all: $('r-all'), plan: $('r-items'), progress: $('r-progress'), bar: $('r-bar'),
        ptext: $('r-progress-text'), msg: $('r-msg'), again: $('r-again'), apply: $('r-apply'), close: $('r-close'),
    };

    /* ----- repositories --------------------------------------------------------- */

    async function show() {
        loadAudit();
        if (!rst.repos.length)
            await loadRepos();
        if (!rst.repo && rst.repos.length) {
            const first = rst.repos.find((r) => r.open);
            if (first)
                chooseRepo(first.id);
        }
        const b = rui.repos.querySelector('button, input');
        (b || rui.q).focus();
    }

    async function loadRepos() {
        let res;
        try {
            res = await api('/api/restore/repos');
        } catch (e) {
            say(e.message, true);
            return;
        }
        rst.repos = res.repos;
        renderRepos();
    }

    function renderRepos() {
        const frag = document.createDocumentFragment();
        for (const r of rst.repos) {
            const box = el('div', 'repo');
            box.dataset.repo = String(r.id);
            if (r.id === rst.repo)
                box.classList.add('chosen');
            const t = button(r.target, `repository ${r.target}`, () => chooseRepo(r.id));
            t.className = 'target';
            box.append(t, el('span', 'src', `${r.source}${r.encrypted ? ' · encrypted' : ''}`));
            if (r.error)
                box.appendChild(el('div', 'bad', r.error));
            if (r.password) {
                const row = el('div', 'unlock');
                const input = el('input');
                input.type = 'password';
                input.autocomplete = 'off';
                input.placeholder = 'password';
                input.setAttribute('aria-label', `password of ${r.target}`);
                const go = button('Unlock', `unlock ${r.target}`, () => unlock(r.id, input));
                input.addEventListener('keydown', (e) => {
                    if (e.key === 'Enter') {
                        unlock(r.id, input);
                        e.preventDefault();
                    }
                });
                row.append(input, go);
                box.appendChild(row);
            }
            frag.appendChild(box);
        }
        if (!rst.repos.length)
            frag.appendChild(el('p', 'dim', 'No repository: start shelf serve with --repo TARGET, or add a backup ' +
                                            'schedule (shelf schedule add backup ...).'));
        rui.repos.replaceChildren(frag);
        document.body.dataset.repos = String(rst.repos.length);     /* tests wait on this */
    }

    async function unlock(id, input) {
        const pw = input.value;
        input.value = '';               /* never kept in the page */
        if (!pw)
            return;
        let res;
        try {
            res = await post(`/api/restore/repos/${id}/password`, { password: pw });
        } catch (e) {
            say(e.message, true);
            input.focus();
            return;
        }
        rst.repos = rst.repos.map((r) => (r.id === id ? res : r));
        renderRepos();
        say(`Repository ${id} is open.`);
        chooseRepo(id);
    }

    async function chooseRepo(id) {
        const r = rst.repos.find((x) => x.id === id);
        if (!r)
            return;
        if (r.password) {
            say('This repository is encrypted: type its password first.', true);
            const input = rui.repos.querySelector(`.repo[data-repo="${id}"] input`);
            if (input)
                input.focus();
            return;
        }
        rst.repo = id;
        rst.snap = '';
        rst.items = [];
        rst.chosen.clear();
        renderRepos();
        renderItems();
        let res;
        try {
            res = await api(`/api/restore/repos/${id}/snapshots`);
        } catch (e) {
            say(e.message, true);
            return;
        }
        if (rst.repo !== id)
            return;
        rst.snaps = res.snapshots;
        renderSnaps();
    }

    /* ----- snapshots ---------------------------------------------------------------- */

    function renderSnaps() {
        const frag = document.createDocumentFragment();
        for (const s of rst.snaps) {
            if (s.damaged) {
                frag.appendChild(el('p', 'bad', `${s.id.slice(0, 12)}: damaged (shelf backup check)`));
                continue;
            }
            const b = button('', `snapshot of ${when(s.time)}`, () => chooseSnap(s.id));
            b.className = 'snap';
            b.dataset.snap = s.id;
            if (s.id === rst.snap)
                b.classList.add('chosen');
            b.append(el('span', 'when', when(s.time)),
                     el('span', 'meta', `${s.id.slice(0, 12)} · ${s.items} items · ${bytesText(s.bytes)} · ${s.strategy}` +
                        ` · ${s.host}${s.parent ? ` · after ${s.parent.slice(0, 8)}` : ''}${s.tags ? ` · ${s.tags}` : ''}`));
            frag.appendChild(b);
        }
        if (!rst.snaps.length)
            frag.appendChild(el('p', 'dim', 'No snapshot in this repository yet.'));
        rui.snaps.replaceChildren(frag);
        rui.snaps.dataset.repo = String(rst.repo);        /* tests wait on this */
    }

    function chooseSnap(id) {
        rst.snap = id;
        rst.chosen.clear();
        rui.whole.checked = false;
        for (const b of rui.snaps.querySelectorAll('.snap'))
            b.classList.toggle('chosen', b.dataset.snap === id);
        loadItems();
    }

    /* ----- what a snapshot holds ----------------------------------------------------- */

    async function loadItems() {
        if (!rst.snap)
            return;
        const gen = ++rst.gen;
        const snap = rst.snap;
        let res;
        try {
            res = await api(`/api/restore/repos/${rst.repo}/snapshots/${snap}/items?` +
                            new URLSearchParams({ q: rui.q.value }).toString());
        } catch (e) {
            if (gen === rst.gen)
                say(e.message, true);
            return;
        }
        if (gen !== rst.gen || snap !== rst.snap)
            return;                     /* an answer to an older filter */
        rst.items = res.items;
        const c = res.contents;
        rui.summary.textContent = `Snapshot ${snap.slice(0, 12)}: ${c.samples} samples (${bytesText(c.sample_bytes)}), ` +
            `${c.patches} patches, ${c.projects} projects` + (res.q ? `; ${res.total} match “${res.q}”` : '');
        renderItems();
        rui.items.dataset.snap = snap;                 /* tests wait on these */
        rui.items.dataset.q = res.q;
    }

    function renderItems() {
        const t = el('table', 'grid');
        const head = el('tr');
        for (const h of ['', 'kind', 'name', 'size', 'a restore now'])
            head.appendChild(el('th', null, h));
        t.appendChild(head);
        for (const it of rst.items) {
            const tr = el('tr');
            tr.dataset.item = it.item;
            const box = el('input');
            box.type = 'checkbox';
            box.checked = rui.whole.checked || rst.chosen.has(it.item);
            box.disabled = rui.whole.checked;
            box.setAttribute('aria-label', `choose ${it.kind} ${it.name}`);
            box.addEventListener('change', () => {
                if (box.checked)
                    rst.chosen.add(it.item);
                else
                    rst.chosen.delete(it.item);
                showChosen();
            });
            const td = el('td');
            td.appendChild(box);
            const now = el('td', `act-${it.action}`, it.conflict ? `conflict (${it.detail.replace(/^conflict: /, '')})`
                : it.action === 'same' ? 'already there' : `${it.action}${it.detail ? ` (${it.detail})` : ''}`);
            tr.append(td, el('td', 'kind', it.kind), el('td', 'name', it.name),
                      el('td', 'size', it.size ? bytesText(it.size) : ''), now);
            t.appendChild(tr);
        }
        rui.items.replaceChildren(rst.snap ? t : el('p', 'dim', 'Choose a snapshot.'));
        if (rst.snap && !rst.items.length)
            rui.items.appendChild(el('p', 'dim', rui.q.value ? 'Nothing matches.' : 'The snapshot holds no item.'));
        showChosen();
    }

    function showChosen() {
        const n = rui.whole.checked ? 'the whole snapshot' : `${rst.chosen.size} chosen`;
        rui.chosen.textContent = rst.snap ? n : '';
        rui.preview.disabled = !rst.snap || (!rui.whole.checked && !rst.chosen.size);
    }

    /* ----- the dialog: preview, conflicts, apply, progress ------------------------------- */

    function openDialog() {
        if (rui.preview.disabled)
            return;
        rst.dialog = { preview: null, expect: '', conflicts: [], choices: {}, opener: document.activeElement,
                       items: rui.whole.checked ? [] : [...rst.chosen], running: false };
        rui.dialog.hidden = false;
        rui.close.textContent = 'Cancel';
        rui.close.focus();
        restorePreview();
    }

    function closeDialog() {
        const d = rst.dialog;
        if (!d || d.running)
            return;                     /* a restore runs: it goes on, the dialog stays */
        rst.dialog = null;
        rui.dialog.hidden = true;
        if (d.opener && document.contains(d.opener))
            d.opener.focus();
        else
            rui.q.focus();
    }

    function setMsg(text, bad) {
        rui.msg.textContent = text;
        rui.msg.classList.toggle('bad', !!bad);
    }

    async function restorePreview() {
        const d = rst.dialog;
        if (!d)
            return;
        d.preview = null;
        rui.apply.disabled = true;
        rui.again.hidden = true;
        rui.progress.hidden = true;
        rui.dialog.dataset.ready = '0';
        rui.what.textContent = '…';
        setMsg('');
        let res;
        try {
            res = await post('/api/restore/preview', { repo: rst.repo, snapshot: rst.snap, items: d.items });
        } catch (e) {
            if (rst.dialog !== d)
                return;
            setMsg(e.message, true);
            rui.dialog.dataset.ready = 'error';
            return;
        }
        if (rst.dialog !== d)
            return;
        d.preview = res.preview;
        d.expect = res.expect;
        d.conflicts = res.items.filter((it) => it.conflict);
        d.plan = res.items;
        for (const k of Object.keys(d.choices))
            if (!d.conflicts.some((c) => c.item === k))
                delete d.choices[k];          /* a choice kept across previews only while it is a conflict */
        const what = d.items.length ? `${d.items.length} item${d.items.length === 1 ? '' : 's'} chosen` : 'the whole snapshot';
        rui.what.textContent = `Restore ${what} of snapshot ${res.snapshot.slice(0, 12)} into this library: ` +
            'what would happen (nothing is written yet).';
        renderConflicts();
        renderPlan(res.items);
        updateApply();
        rui.dialog.dataset.ready = '1';     /* tests wait on this */
    }

    /* What the restore would do per action, as the choices made so far say:
     * a conflict counts as chosen, or apart while it has no choice. */
    function renderCounts() {
        const d = rst.dialog;
        const n = {}, size = {};
        for (const it of d.plan) {
            const a = it.conflict ? d.choices[it.item] || 'conflict' : it.action;
            n[a] = (n[a] || 0) + 1;
            size[a] = (size[a] || 0) + it.size;
        }
        const rows = [el('tr')];
        for (const h of ['', 'items', 'size'])
            rows[0].appendChild(el('th', null, h));
        const names = { create: 'created', overwrite: 'overwritten', 'keep-both': 'kept both', skip: 'skipped',
                        same: 'already there', failed: 'cannot be restored', conflict: 'conflicts still to choose for' };
        for (const a of Object.keys(names)) {
            const tr = el('tr', `act-${a}`);
            tr.dataset.action = a;
            tr.append(el('td', null, names[a]), el('td', 'n', n[a] || 0), el('td', 'size', bytesText(size[a] || 0)));
            rows.push(tr);
        }
        rui.counts.replaceChildren(...rows);
    }

    function renderConflicts() {
        const d = rst.dialog;
        rui.conflictBox.hidden = !d.conflicts.length;
        const frag = document.createDocumentFragment();
        d.conflicts.forEach((c, i) => {
            const fs = el('fieldset', 'rconflict');
            fs.dataset.item = c.item;
            const lg = el('legend', null, `${c.kind} ${c.id}: ${c.name}${c.size ? ` (${bytesText(c.size)})` : ''}`);
            fs.append(lg, el('p', 'detail', c.detail.replace(/^conflict: /, '')));
            for (const [v, text] of [['overwrite', 'Overwrite with the snapshot’s'], ['keep-both', 'Keep both'],
                                     ['skip', 'Skip (keep the library’s)']]) {
                const lab = el('label');
                const r = el('input');
                r.type = 'radio';
                r.name = `rc-${i}`;
                r.value = v;
                r.checked = d.choices[c.item] === v;
                r.addEventListener('change', () => {
                    d.choices[c.item] = v;
                    fs.classList.add('chosen');
                    updateApply();
                });
                lab.append(r, document.createTextNode(` ${text}`));
                fs.appendChild(lab);
            }
            if (d.choices[c.item])
                fs.classList.add('chosen');
            frag.appendChild(fs);
        });
        rui.conflicts.replaceChildren(frag);
    }

    function applyToAll(v) {
        const d = rst.dialog;
        if (!d || d.running)
            return;
        for (const c of d.conflicts)
            d.choices[c.item] = v;
        for (const fs of rui.conflicts.querySelectorAll('fieldset')) {
            for (const r of fs.querySelectorAll('input[type=radio]'))
                r.checked = r.value === v;
            fs.classList.add('chosen');
        }
        updateApply();
    }

    function renderPlan(items) {
        const t = el('table', 'grid');
        const head = el('tr');
        for (const h of ['', 'kind', 'name', 'size', 'why'])
            head.appendChild(el('th', null, h));
        t.appendChild(head);
        for (const it of items) {
            const tr = el('tr', `act-${it.action}`);
            tr.append(el('td', null, it.conflict ? 'conflict' : it.action),
                      el('td', 'kind', it.kind), el('td', 'name', it.name || it.path),
                      el('td', 'size', it.size ? bytesText(it.size) : ''), el('td', null, it.detail));
            t.appendChild(tr);
        }
        rui.plan.replaceChildren(t);
    }

    function updateApply() {
        const d = rst.dialog;
        renderCounts();
        const open = d.conflicts.filter((c) => !d.choices[c.item]).length;
        rui.apply.disabled = !d.preview || open > 0 || d.running;
        if (d.preview)
            setMsg(open ? `Choose for ${open} of ${d.conflicts.length} conflict${d.conflicts.length === 1 ? '' : 's'} ` +
                          '(or apply one choice to all).' : 'Ready: Restore writes what is shown.');
    }

    async function restoreApply() {
        const d = rst.dialog;
        if (!d || !d.preview || rui.apply.disabled)
            return;
        rui.apply.disabled = true;
        let res;
        try {
            res = await post('/api/restore/apply', { preview: d.preview, expect: d.expect, choices: d.choices });
        } catch (e) {
            if (rst.dialog !== d)
                return;
            d.preview = null;
            if (e.status === 409 && e.body && e.body.stale) {
                setMsg(`Not restored: ${e.message.replace(/: preview again$/, '')}. Look at the new preview.`, true);
                rui.dialog.dataset.ready = 'stale';
            } else {
                setMsg(`Not restored: ${e.message}`, true);
                rui.dialog.dataset.ready = 'error';
            }
            rui.again.hidden = false;
            rui.again.focus();
            return;
        }
        d.running = true;
        d.preview = null;
        rui.close.disabled = true;
        for (const b of rui.all.querySelectorAll('button'))
            b.disabled = true;
        for (const r of rui.conflicts.querySelectorAll('input'))
            r.disabled = true;
        rui.progress.hidden = false;
        rui.bar.max = Math.max(1, res.total);
        rui.bar.value = 0;
        rui.dialog.dataset.ready = 'running';
        setMsg('Restoring…');
        pollJob(d, res.job);
    }

    async function pollJob(d, job) {
        let j;
        try {
            j = await api('/api/restore/job');
        } catch (e) {
            setMsg(e.message, true);
            rst.poll = setTimeout(() => pollJob(d, job), 1000);
            return;
        }
        if (j.job !== job)
            return;
        rui.bar.value = j.done;
        rui.ptext.textContent = `${j.done} of ${j.total}${j.current ? ` · ${j.current}` : ''}`;
        if (j.state === 'running') {
            rst.poll = setTimeout(() => pollJob(d, job), 200);
            return;
        }
        d.running = false;
        rui.close.disabled = false;
        rui.close.textContent = 'Close';
        const line = `${j.created} created, ${j.overwritten} overwritten, ${j.kept_both} kept both, ` +
            `${j.skipped} skipped, ${j.same} already there, ${j.failed} failed; ${bytesText(j.bytes)} written`;
        rui.what.textContent = `Restore from snapshot ${j.snapshot.slice(0, 12)}: ${j.state === 'done' ? 'done' : 'failed'} ` +
            `in ${j.seconds.toFixed(1)} s.`;
        if (j.state === 'done') {
            setMsg(`Done: ${line}.`);
            say(`Restore done: ${line}.`);
        } else {
            setMsg(`The restore failed: ${j.error} (${line}).`, true);
        }
        if (j.warning)
            rui.msg.appendChild(el('span', null, ` Warning: ${j.warning}.`));
        if (j.failures.length)
            rui.msg.appendChild(el('span', null, ` Failed: ${j.failures.map((f) => `${f.item} ${f.name}: ${f.detail}`).join('; ')}`));
        rui.dialog.dataset.ready = j.state;        /* tests wait on this: done or failed */
        rui.close.focus();
        loadAudit();
        loadItems();                               /* what a restore would do now */
    }

    /* ----- the audit log ------------------------------------------------------------------ */

    async function loadAudit() {
        let res;
        try {
            res = await api('/api/audit?limit=200');
        } catch (e) {
            return;
        }
        const frag = document.createDocumentFragment();
        for (const e of res.entries) {
            const li = el('li');
            li.dataset.id = String(e.id);
            li.append(el('span', 'when', `${when(e.time)} · ${e.action}`), document.createTextNode(e.detail));
            frag.appendChild(li);
        }
        if (!res.entries.length)
            frag.appendChild(el('li', 'dim', 'Nothing restored or merged yet.'));
        rui.audit.replaceChildren(frag);
        rui.audit.dataset.count = String(res.entries.length);      /* tests wait on this */
    }

    /* ----- events -------------------------------------------------------------------------- */

    rui.q.addEventListener('input', loadItems);
    rui.whole.addEventListener('change', renderItems);
    rui.preview.addEventListener('click', openDialog);
    rui.apply.addEventListener('click', restoreApply);
    rui.again.addEventListener('click', restorePreview);
    rui.close.addEventListener('click', closeDialog);
    for (const b of rui.all.querySelectorAll('button'))
        b.addEventListener('click', () => applyToAll(b.dataset.all));

    document.addEventListener('keydown', (e) => {
        if (document.body.dataset.view !== 'restore' || e.ctrlKey || e.metaKey || e.altKey)
            return;
        if (!$('help').hidden || !$('alerts').hidden)
            return;                 /* app.js closes those */
        if (!rui.dialog.hidden) {
            if (e.key === 'Escape') {
                closeDialog();
                e.preventDefault();
            }
            return;
        }
        const t = e.target;
        if (t instanceof HTMLInputElement && t.type !== 'checkbox' && t.type !== 'radio') {
            if (t === rui.q && e.key === 'Escape') {
                rui.q.value = '';
                loadItems();
                e.preventDefault();
            }
            return;
        }
        if (e.key === '/') {
            rui.q.focus();
            rui.q.select();
            e.preventDefault();
        } else if (e.key === '?') {
            toggleHelp(true);
            e.preventDefault();
        }
    });

    keepTabIn(rui.dialog);

    return show;
})();
