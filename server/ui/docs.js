/*
 * docs.js: patches and projects in the page of `shelf serve`.
 *
 * The switch between samples, patches and projects; the list of documents
 * with its word search; a document's parameters (what `shelf patch show`
 * prints); its history as a timeline; the diff of any two versions; revert,
 * undo and the three-way merge dialog.  Every change is shown first (POST
 * .../preview) and made second (POST .../apply with the preview's id and
 * the version it expects); a 409 says the document changed in between, and
 * the dialog offers to look again.  Uses app.js's api(), post(), say() and
 * $() and only the JSON API of doc/serve.md.
 */
'use strict';

const DOC_API = { patch: '/api/patches', project: '/api/projects' };
const DOC_NOUN = { patch: ['patch', 'patches'], project: ['project', 'projects'] };

const docs = {
    kind: 'patch',          /* the view shown: 'patch' or 'project' */
    gen: 0,                 /* generation of the list's query */
    openGen: 0,             /* generation of the document being opened */
    abort: null,
    items: [],
    sel: -1,
    id: 0,                  /* the document shown */
    doc: null,              /* GET .../ID: {version, head, document} */
    history: null,          /* GET .../ID/history */
    picked: [],             /* versions chosen for a diff, at most two */
    dialog: null,           /* the change being previewed: {op, body, preview, expect} */
    conflicts: new Map(),   /* 'kind:id' -> GET /api/conflicts entry: sync could not merge */
};

const dui = {
    q: $('dq'), count: $('doc-count'), list: $('doc-list'), detail: $('doc-detail'),
    dialog: $('doc-dialog'), title: $('doc-dialog-title'), what: $('doc-dialog-what'),
    conflicts: $('merge-conflicts'), changes: $('doc-dialog-changes'), msg: $('doc-dialog-msg'),
    preview: $('doc-preview'), apply: $('doc-apply'), cancel: $('doc-cancel'),
};

function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls)
        e.className = cls;
    if (text !== undefined && text !== null)
        e.textContent = String(text);
    return e;
}

function button(text, label, fn) {
    const b = el('button', null, text);
    b.type = 'button';
    if (label)
        b.setAttribute('aria-label', label);
    b.addEventListener('click', fn);
    return b;
}

/* A value as people read it: strings as they are, the rest as JSON. */
function shown(v) {
    if (v === undefined || v === null)
        return '(absent)';
    return typeof v === 'string' ? v : JSON.stringify(v);
}

/* A size as the program prints it (cli_bytes): B, then kB, MB, GB, TB of 1000. */
function bytesText(n) {
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let v = n, u = 0;
    while (v >= 1000 && u < units.length - 1) {
        v /= 1000;
        u++;
    }
    return u ? `${v.toFixed(1)} ${units[u]}` : `${n} B`;
}

function when(t) {
    return new Date(t * 1000).toLocaleString();
}

function docBase() {
    return `${DOC_API[docs.kind]}/${docs.id}`;
}

/* ----- the switch -------------------------------------------------------- */

function showView(view) {
    const samples = view === 'samples';
    const other = view === 'dupes' || view === 'restore';      /* dupes.js's and restore.js's views */
    document.body.dataset.view = view;
    for (const b of document.querySelectorAll('#views button'))
        b.setAttribute('aria-selected', String(b.dataset.view === view));
    $('samples-main').hidden = !samples;
    $('dupes-main').hidden = view !== 'dupes';
    $('q').hidden = !samples;
    $('count').hidden = !samples;
    $('sort-label').hidden = !samples;
    $('save-button').hidden = !samples;
    $('save-name').hidden = true;
    $('docs-main').hidden = samples || other;
    dui.q.hidden = samples || other;
    dui.count.hidden = samples || other;
    $('restore-main').hidden = view !== 'restore';
    if (samples) {
        $('list').focus();
        return;
    }
    if (view === 'dupes') {
        $('dupe-list').focus();
        dupesQuery();
        return;
    }
    if (view === 'restore') {
        restoreShow();          /* restore.js */
        return;
    }
    if (docs.kind !== view) {
        docs.kind = view;
        docs.items = [];
        docs.sel = -1;
        docs.id = 0;
        docs.doc = null;
        docs.history = null;
        dui.q.value = '';
        const p = el('p', 'empty', `Choose a ${DOC_NOUN[view][0]}: arrows move, Tab goes to its history.`);
        dui.detail.replaceChildren(p);
        delete dui.detail.dataset.id;
    }
    dui.q.placeholder = `Search ${DOC_NOUN[view][1]}   ( / )`;
    dui.list.setAttribute('aria-label', view === 'patch' ? 'Patches' : 'Projects');
    docQuery();
    dui.q.focus();
}

/* ----- the list ---------------------------------------------------------- */

async function docQuery() {
    const gen = ++docs.gen;
    const kind = docs.kind;
    if (docs.abort)
        docs.abort.abort();
    docs.abort = new AbortController();
    let res, cf;
    try {
        [res, cf] = await Promise.all([
            api(`${DOC_API[kind]}?` + new URLSearchParams({ q: dui.q.value }).toString(),
                { signal: docs.abort.signal }),
            api('/api/conflicts', { signal: docs.abort.signal }),
        ]);
    } catch (e) {
        if (gen === docs.gen && e.name !== 'AbortError')
            say(e.message, true);
        return;
    }
    if (gen !== docs.gen || kind !== docs.kind)
        return;                 /* an answer to an older query */
    docs.items = res.items;
    docs.sel = docs.items.findIndex((it) => it.id === docs.id);
    docs.conflicts = new Map(cf.conflicts.map((c) => [`${c.kind}:${c.id}`, c]));
    const n = res.total;
    const nc = cf.conflicts.filter((c) => c.kind === kind).length;
    dui.count.textContent = `${n.toLocaleString('en')} ${DOC_NOUN[kind][n === 1 ? 0 : 1]}` +
        (nc ? ` · ${nc} sync conflict${nc === 1 ? '' : 's'}` : '');
    dui.count.dataset.conflicts = String(nc);
    dui.count.dataset.total = String(n);
    renderDocList();
    document.body.dataset.dq = `${kind}:${res.q}`;     /* tests wait on this */
}

function renderDocList() {
    const frag = document.createDocumentFragment();
    docs.items.forEach((it, i) => {
        const row = el('div', 'doc-row');
        row.setAttribute('role', 'option');
        row.dataset.index = String(i);
        row.dataset.id = String(it.id);
        if (i === docs.sel) {
            row.classList.add('sel');
            row.setAttribute('aria-selected', 'true');
        }
        const meta = docs.kind === 'patch'
            ? [it.category, it.format, it.author].filter(Boolean).join(' · ')
            : (it.tempo ? `${it.tempo} bpm` : '');
        row.append(el('span', 'name', it.name), el('span', 'meta', meta), el('span', 'ver', `v${it.version}`));
        if (docs.conflicts.has(`${docs.kind}:${it.id}`)) {
            row.classList.add('conflict');
            row.appendChild(el('span', 'conflict-mark', 'sync conflict'));
        }
        frag.appendChild(row);
    });
    if (!docs.items.length)
        frag.appendChild(el('p', 'empty', `No ${DOC_NOUN[docs.kind][1]}${dui.q.value ? ' match' : ' yet'}.`));
    dui.list.replaceChildren(frag);
}

/* Show row i of rows (by data-index) as the selected one, scrolled to. */
function markRow(rows, i) {
    for (const row of rows) {
        const on = Number(row.dataset.index) === i;
        row.classList.toggle('sel', on);
        if (on) {
            row.setAttribute('aria-selected', 'true');
            row.scrollIntoView({ block: 'nearest' });
        } else {
            row.removeAttribute('aria-selected');
        }
    }
}

function docSelect(i) {
    if (!docs.items.length)
        return;
    i = Math.max(0, Math.min(docs.items.length - 1, i));
    docs.sel = i;
    markRow(dui.list.querySelectorAll('.doc-row'), i);
    openDoc(docs.items[i].id, 0);
}

/* ----- one document ------------------------------------------------------ */

async function openDoc(id, version) {
    const gen = ++docs.openGen;
    const kind = docs.kind;
    if (docs.id !== id)
        docs.picked = [];
    let doc, hist;
    try {
        [doc, hist] = await Promise.all([
            api(`${DOC_API[kind]}/${id}` + (version ? `?version=${version}` : '')),
            api(`${DOC_API[kind]}/${id}/history`),
        ]);
    } catch (e) {
        if (gen === docs.openGen)
            say(e.message, true);
        return;
    }
    if (gen !== docs.openGen || kind !== docs.kind)
        return;
    docs.id = id;
    docs.doc = doc;
    docs.history = hist;
    renderDetail();
}

function docField(dl, name, value) {
    if (value === null || value === undefined || value === '')
        return;
    dl.append(el('dt', null, name), el('dd', null, value));
}

/* Every value under v as [path, value], groups walked member by member. */
function flatten(v, path, out) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
        for (const k of Object.keys(v))
            flatten(v[k], path ? `${path}/${k}` : k, out);
    } else {
        out.push([path, v]);
    }
    return out;
}

function table(head, rows, id) {
    const t = el('table', 'grid');
    if (id)
        t.id = id;
    const tr = el('tr');
    for (const h of head)
        tr.appendChild(el('th', null, h));
    t.appendChild(tr);
    for (const r of rows) {
        const row = el('tr');
        for (const c of r)
            row.appendChild(el('td', null, c));
        t.appendChild(row);
    }
    return t;
}

function range(r, notes) {
    if (!Array.isArray(r))
        return '';
    return notes ? `${keyName(r[0])}–${keyName(r[1])}` : `${r[0]}–${r[1]}`;
}

/* The parameters as `shelf patch show` prints them. */
function patchParts(d) {
    const parts = [];
    const types = d.types || {};
    if (d.params) {
        const rows = flatten(d.params, 'params', []).map(([p, v]) => {
            const unit = types[p] && types[p].unit ? types[p].unit : '';
            return [p.slice(7), shown(v), unit];
        });
        parts.push(el('h2', null, 'Parameters'), table(['parameter', 'value', 'unit'], rows, 'params'));
    }
    const zones = d.zones || {};
    const ids = Object.keys(zones);
    if (ids.length) {
        const rows = ids.map((k) => {
            const z = zones[k];
            const s = z.sample || {};
            const loop = z.loop ? `${z.loop.mode || 'loop'}${z.loop.start !== undefined ? ` ${z.loop.start}–${z.loop.end}` : ''}` : '';
            return [k, range(z.key, true), z.root !== undefined ? keyName(z.root) : '', range(z.vel, false),
                    loop, `${s.path || ''}${s.id ? ` (#${s.id})` : ''}${s.missing ? ' MISSING' : ''}`];
        });
        parts.push(el('h2', null, `Zones (${ids.length})`),
                   table(['zone', 'key', 'root', 'vel', 'loop', 'sample'], rows, 'zones'));
    }
    return parts;
}

function projectParts(d) {
    const parts = [];
    const rows = [];
    if (d.tempo)
        rows.push(['tempo', `${d.tempo} bpm`]);
    if (d.patches && Object.keys(d.patches).length)
        rows.push(['patches', Object.keys(d.patches).join(' ')]);
    if (d.samples && Object.keys(d.samples).length)
        rows.push(['samples', Object.keys(d.samples).join(' ')]);
    if (rows.length)
        parts.push(el('h2', null, 'Parameters'), table(['parameter', 'value'], rows, 'params'));
    const lanes = d.automation || {};
    const ids = Object.keys(lanes);
    if (ids.length) {
        const lrows = ids.map((k) => {
            const l = lanes[k];
            return [k, l.type, l.target, `${l.start} s`, `${l.duration} s`, String((l.points || []).length)];
        });
        parts.push(el('h2', null, `Automation (${ids.length} lanes)`),
                   table(['lane', 'type', 'target', 'start', 'duration', 'points'], lrows, 'lanes'));
    }
    return parts;
}

/* Versions the head is made of (itself, its parents, theirs...): merging them adds nothing. */
function headLine(h) {
    const by = new Map(h.versions.map((v) => [v.version, v]));
    const seen = new Set();
    const todo = [h.head];
    while (todo.length) {
        const v = by.get(todo.pop());
        if (!v || seen.has(v.version))
            continue;
        seen.add(v.version);
        if (v.parent)
            todo.push(v.parent);
        if (v.parent2)
            todo.push(v.parent2);
    }
    return seen;
}

function renderDetail() {
    const { doc, history: h } = docs;
    const d = doc.document;
    const box = dui.detail;
    box.dataset.id = String(docs.id);
    box.dataset.version = String(doc.version);
    const noun = DOC_NOUN[docs.kind][0];

    const title = el('h1', null, d.name);
    const sub = el('p', 'path', `${noun} ${docs.id} · version ${doc.version}` +
                   (doc.version !== doc.head ? ` (the head is ${doc.head})` : ' (the head)'));
    const tools = el('div', 'edit');
    if (doc.version !== doc.head)
        tools.appendChild(button('Back to the head', null, () => openDoc(docs.id, 0)));
    const undo = button('Undo last change (u)', null, () => startChange('undo', {}));
    undo.id = 'doc-undo';
    tools.appendChild(undo);
    const cf = docs.conflicts.get(`${docs.kind}:${docs.id}`);
    let notice = null;
    if (cf) {
        notice = el('div', 'sync-conflict');
        notice.setAttribute('role', 'alert');
        notice.appendChild(el('p', null, `Sync could not merge versions ${cf.head} and ${cf.other}: both ` +
                              `changed the same values (since ${when(cf.since)}). Version ${cf.head} is ` +
                              'shown; choose per value which one stays.'));
        const r = button(`Resolve: merge version ${cf.other} into the head… (r)`, null,
                         () => resolveSync());
        r.id = 'doc-resolve';
        notice.appendChild(r);
    }

    const dl = el('dl');
    docField(dl, 'author', d.author);
    docField(dl, 'category', d.category);
    docField(dl, 'tags', (d.tags || []).join(' '));
    docField(dl, 'rating', d.rating ? '★'.repeat(d.rating) : null);
    docField(dl, 'source', d.source ? [d.source.format, d.source.file].filter(Boolean).join('  ') : null);
    docField(dl, 'comment', d.comment);

    const parts = docs.kind === 'patch' ? patchParts(d) : projectParts(d);

    /* the timeline */
    const line = headLine(h);
    const ol = el('ol');
    ol.id = 'timeline';
    for (const v of h.versions) {
        const li = el('li', 'version');
        li.dataset.version = String(v.version);
        if (v.head)
            li.classList.add('head');
        if (v.version === doc.version)
            li.classList.add('viewing');
        const pick = el('input');
        pick.type = 'checkbox';
        pick.className = 'pick';
        pick.checked = docs.picked.includes(v.version);
        pick.setAttribute('aria-label', `compare version ${v.version}`);
        pick.addEventListener('change', () => pickVersion(v.version, pick.checked));
        const badges = [];
        if (v.head)
            badges.push('head');
        if (v.parent2)
            badges.push(`merge of ${v.parent} and ${v.parent2}`);
        else if (v.parent && v.parent !== v.version - 1)
            badges.push(`from ${v.parent}`);
        if (v.undoes)
            badges.push(`undoes ${v.undoes}`);
        const head = el('div', 'vhead');
        head.append(pick, el('span', 'vnum', v.version), el('span', 'vmsg', v.message || '(no message)'));
        const meta = el('div', 'vmeta', `${when(v.time)} · ${v.who}${badges.length ? ` · ${badges.join(' · ')}` : ''}`);
        const acts = el('div', 'vacts');
        if (v.version !== doc.version)
            acts.appendChild(button('View', `view version ${v.version}`, () => openDoc(docs.id, v.version)));
        if (!v.head)
            acts.appendChild(button('Revert to this', `revert to version ${v.version}`,
                                    () => startChange('revert', { to: v.version })));
        if (!line.has(v.version))
            acts.appendChild(button('Merge into head', `merge version ${v.version} into the head`,
                                    () => startChange('merge', { other: v.version })));
        li.append(head, meta, acts);
        ol.appendChild(li);
    }
    const diff = el('div');
    diff.id = 'diff';
    diff.appendChild(el('p', 'empty', 'Tick two versions to see what changed between them (d).'));

    box.replaceChildren(title, sub, tools, ...(notice ? [notice] : []), dl, ...parts, el('h2', null, 'History'), ol, el('h2', null, 'Diff'), diff);
    if (docs.picked.length === 2)
        showDiff();
}

/* ----- diff of two versions ---------------------------------------------- */

function pickVersion(v, on) {
    docs.picked = docs.picked.filter((x) => x !== v);
    if (on)
        docs.picked.push(v);
    if (docs.picked.length > 2)
        docs.picked.shift();
    for (const box of dui.detail.querySelectorAll('#timeline .pick'))
        box.checked = docs.picked.includes(Number(box.closest('li').dataset.version));
    if (docs.picked.length === 2)
        showDiff();
}

function changesTable(changes) {
    if (!changes || !changes.length)
        return el('p', 'empty', 'No differences.');
    const t = el('table', 'grid changes');
    const tr = el('tr');
    for (const h of ['', 'path', 'old', 'new'])
        tr.appendChild(el('th', null, h));
    t.appendChild(tr);
    for (const c of changes) {
        const row = el('tr', `op-${c.op}`);
        row.dataset.path = c.path;
        row.append(el('td', 'op', c.op === 'add' ? '+' : c.op === 'remove' ? '−' : '~'), el('td', 'cpath', c.path),
                   el('td', 'old', 'old' in c ? shown(c.old) : ''), el('td', 'new', 'new' in c ? shown(c.new) : ''));
        t.appendChild(row);
    }
    return t;
}

async function showDiff() {
    const box = $('diff');
    if (!box || docs.picked.length !== 2)
        return;
    const [a, b] = [...docs.picked].sort((x, y) => x - y);
    const id = docs.id;
    let res;
    try {
        res = await api(`${docBase()}/diff?a=${a}&b=${b}`);
    } catch (e) {
        say(e.message, true);
        return;
    }
    if (id !== docs.id || !$('diff'))
        return;
    const t = el('p', 'difftitle', `From version ${res.a} to version ${res.b}: ${res.changes.length} ` +
                 `change${res.changes.length === 1 ? '' : 's'}`);
    $('diff').replaceChildren(t, changesTable(res.changes));
    $('diff').dataset.pair = `${res.a}-${res.b}`;      /* tests wait on this */
}

/* ----- changes: preview, then apply ---------------------------------------- */

/* The sync conflict of the document shown: the merge dialog with the
 * other head. */
function resolveSync() {
    const cf = docs.conflicts.get(`${docs.kind}:${docs.id}`);
    if (cf)
        startChange('merge', { other: cf.other }, `Resolve the sync conflict: merge version ${cf.other} ` +
                    `into the head (${cf.head})`);
}

function startChange(op, body, title) {
    if (!docs.id)
        return;
    const d = { op, body, preview: null, expect: 0, conflicts: null, opener: document.activeElement };
    docs.dialog = d;
    dui.title.textContent = title || (op === 'revert' ? `Revert to version ${body.to}` :
        op === 'undo' ? 'Undo the last change' : `Merge version ${body.other} into the head`);
    dui.what.textContent = '…';
    dui.conflicts.replaceChildren();
    dui.changes.replaceChildren();
    dui.msg.textContent = '';
    dui.msg.classList.remove('bad');
    dui.preview.hidden = op !== 'merge';
    dui.apply.disabled = true;
    dui.dialog.dataset.op = op;
    dui.dialog.dataset.ready = '0';
    dui.dialog.hidden = false;
    dui.cancel.focus();
    docPreview();
}

function closeDialog() {
    const d = docs.dialog;
    docs.dialog = null;
    dui.dialog.hidden = true;
    if (d && d.opener && document.contains(d.opener))
        d.opener.focus();
    else
        dui.list.focus();
}

/* The merge dialog's choices as the API takes them. */
function resolutions() {
    const out = [];
    for (const fs of dui.conflicts.querySelectorAll('fieldset')) {
        const take = fs.querySelector('input[type=radio]:checked');
        if (!take)
            continue;
        const path = fs.dataset.path;
        if (take.value !== 'value') {
            out.push({ path, take: take.value });
            continue;
        }
        const text = fs.querySelector('input.typed').value;
        let value;
        try {
            value = JSON.parse(text);       /* 42, true, "x", [1,2] as JSON */
        } catch (e) {
            value = text;                   /* anything else is text */
        }
        out.push({ path, take: 'value', value });
    }
    return out;
}

function renderConflicts(conflicts) {
    const frag = document.createDocumentFragment();
    conflicts.forEach((c, i) => {
        const fs = el('fieldset', 'conflict');
        fs.dataset.path = c.path;
        fs.appendChild(el('legend', null, c.path));
        for (const side of ['base', 'ours', 'theirs', 'value']) {
            const lab = el('label', `side ${side}`);
            const r = el('input');
            r.type = 'radio';
            r.name = `conflict-${i}`;
            r.value = side;
            r.addEventListener('change', () => docPreview());
            lab.appendChild(r);
            if (side === 'value') {
                lab.appendChild(el('span', 'sname', 'value'));
                const typed = el('input', 'typed');
                typed.type = 'text';
                typed.value = typeof c.ours === 'string' ? c.ours : shown(c.ours);
                typed.setAttribute('aria-label', `a value for ${c.path}`);
                typed.addEventListener('input', () => { r.checked = true; });
                typed.addEventListener('keydown', (e) => {
                    if (e.key === 'Enter') {
                        r.checked = true;
                        docPreview();
                        e.preventDefault();
                    }
                });
                lab.appendChild(typed);
            } else {
                const names = { base: 'base', ours: 'ours (the head)', theirs: 'theirs' };
                lab.append(el('span', 'sname', names[side]), el('span', 'sval', shown(c[side])));
            }
            fs.appendChild(lab);
        }
        frag.appendChild(fs);
    });
    dui.conflicts.replaceChildren(frag);
}

async function docPreview() {
    const d = docs.dialog;
    if (!d)
        return;
    const body = Object.assign({ op: d.op }, d.body);
    const gen = d.gen = (d.gen || 0) + 1;      /* only the newest preview's answer is shown */
    if (d.op === 'merge' && d.conflicts)
        body.resolve = resolutions();
    dui.apply.disabled = true;
    dui.dialog.dataset.ready = '0';
    let res;
    try {
        res = await post(`${docBase()}/preview`, body);
    } catch (e) {
        if (docs.dialog !== d || gen !== d.gen)
            return;
        dui.what.textContent = '';
        dui.msg.textContent = e.message;
        dui.msg.classList.add('bad');
        dui.dialog.dataset.ready = 'error';
        return;
    }
    if (docs.dialog !== d || gen !== d.gen)
        return;             /* closed, another change, or a newer choice since */
    d.preview = res.preview;
    d.expect = res.expect;
    dui.what.textContent = res.what;
    if (d.op === 'merge') {
        if (!d.conflicts) {
            d.conflicts = res.conflicts;
            renderConflicts(res.conflicts);
        }
        for (const c of res.conflicts) {
            const fs = [...dui.conflicts.querySelectorAll('fieldset')].find((f) => f.dataset.path === c.path);
            if (fs)
                fs.classList.toggle('resolved', c.resolved);
        }
    }
    dui.changes.replaceChildren(res.changes ? changesTable(res.changes)
                                            : el('p', 'empty', 'Choose a value for every conflict to see the result.'));
    dui.msg.classList.remove('bad');
    dui.msg.textContent = res.preview ? `Applies to version ${res.expect}.`
                                      : `${res.unresolved} of ${res.conflicts.length} conflicts to resolve.`;
    dui.apply.disabled = !res.preview;
    dui.dialog.dataset.ready = res.preview ? '1' : '0';      /* tests wait on this */
}

async function docApply() {
    const d = docs.dialog;
    if (!d || !d.preview)
        return;
    dui.apply.disabled = true;
    let res;
    try {
        res = await post(`${docBase()}/apply`, { preview: d.preview, expect: d.expect });
    } catch (e) {
        if (docs.dialog !== d)
            return;
        d.preview = null;
        dui.msg.textContent = e.status === 409
            ? `Not applied: ${e.message.replace(/: preview again$/, '')}. Look at the new preview before applying.`
            : `Not applied: ${e.message}`;
        dui.msg.classList.add('bad');
        dui.dialog.dataset.ready = e.status === 409 ? 'stale' : 'error';
        dui.preview.hidden = false;
        openDoc(docs.id, 0);            /* the timeline as it is now */
        return;
    }
    const what = dui.what.textContent;
    closeDialog();
    say(res.changed ? `${what}: now at version ${res.version}` : `${what}: nothing changed`);
    await docQuery();                   /* the list shows the new version; conflicts as now */
    await openDoc(docs.id, 0);
}

dui.preview.addEventListener('click', () => docPreview());
dui.apply.addEventListener('click', () => docApply());
dui.cancel.addEventListener('click', () => closeDialog());

/* ----- keys and events ---------------------------------------------------- */

document.addEventListener('keydown', (e) => {
    if (samplesShown() || dupesShown() || document.body.dataset.view === 'restore' || e.ctrlKey || e.metaKey || e.altKey)
        return;                 /* app.js, dupes.js and restore.js have those keys */
    if (!$('help').hidden || !$('alerts').hidden)
        return;                 /* app.js closes those */
    if (!dui.dialog.hidden) {
        if (e.key === 'Escape') {
            closeDialog();
            e.preventDefault();
        }
        return;
    }
    if (e.target === dui.q) {
        if (e.key === 'ArrowDown' || e.key === 'Enter') {
            dui.list.focus();
            docSelect(docs.sel < 0 ? 0 : docs.sel);
            e.preventDefault();
        } else if (e.key === 'Escape') {
            if (dui.q.value) {
                dui.q.value = '';
                docQuery();
            } else {
                dui.list.focus();
            }
            e.preventDefault();
        }
        return;
    }
    const t = e.target;
    if ((t instanceof HTMLInputElement && t.type !== 'checkbox' && t.type !== 'radio') ||
        t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement)
        return;
    const inList = t === dui.list || t === document.body;
    const page = Math.max(1, Math.floor(dui.list.clientHeight / 28) - 1);
    const keys = {
        '/': () => { dui.q.focus(); dui.q.select(); },
        '?': () => toggleHelp(true),
        d: () => showDiff(),
        u: () => startChange('undo', {}),
        r: () => resolveSync(),
        Escape: () => dui.list.focus(),
    };
    if (inList) {
        Object.assign(keys, {
            ArrowDown: () => docSelect(docs.sel + 1),
            ArrowUp: () => docSelect(docs.sel - 1),
            PageDown: () => docSelect(docs.sel + page),
            PageUp: () => docSelect(docs.sel - page),
            Home: () => docSelect(0),
            End: () => docSelect(docs.items.length - 1),
        });
    }
    const fn = keys[e.key];
    if (fn) {
        fn();
        e.preventDefault();
    }
});

/* Keys stay inside an open dialog: Tab past the last control comes back to the first. */
function keepTabIn(dialog) {
    dialog.addEventListener('keydown', (e) => {
        if (e.key !== 'Tab')
            return;
        const all = [...dialog.querySelectorAll('button, input')].filter((x) => !x.disabled && !x.hidden &&
                                                                           x.offsetParent !== null);
        if (!all.length)
            return;
        const first = all[0], last = all[all.length - 1];
        if (e.shiftKey && document.activeElement === first) {
            last.focus();
            e.preventDefault();
        } else if (!e.shiftKey && document.activeElement === last) {
            first.focus();
            e.preventDefault();
        }
    });
}
keepTabIn(dui.dialog);

dui.q.addEventListener('input', docQuery);
dui.list.addEventListener('click', (e) => {
    const row = e.target.closest('.doc-row');
    if (row) {
        dui.list.focus();
        docSelect(Number(row.dataset.index));
    }
});
for (const b of document.querySelectorAll('#views button'))
    b.addEventListener('click', () => showView(b.dataset.view));
document.body.dataset.view = 'samples';
