/*
 * app.js: the sample browser of `shelf serve`.
 *
 * One page, no framework, no build step.  It talks only to the JSON API of
 * doc/serve.md.  The list is virtual: rows exist only for what is on the
 * screen, and results arrive in pages as the list scrolls to them.  Every
 * query has a generation number; an answer to an older query is dropped.
 */
'use strict';

const ROW = 24;            /* px, as #rows div in style.css */
const PAGE = 60;           /* results per request: a screen and a half (the first answer is what a keystroke waits for) */
const SEEK = 1;            /* seconds per left/right */
const FACETS_AFTER = 80;   /* ms after a query's first results before its facets are asked */

const $ = (id) => document.getElementById(id);
const ui = {
    q: $('q'), count: $('count'), sort: $('sort'), list: $('list'), spacer: $('spacer'),
    rows: $('rows'), detail: $('detail'), status: $('status'), timing: $('timing'),
    help: $('help'), player: $('player'), active: $('active'), facets: $('facet-list'),
    saved: $('saved'),
};

const state = {
    token: '',
    gen: 0,                /* generation of the current query */
    q: '',
    total: 0,
    exact: true,
    pages: new Map(),      /* page number -> items, of the current query */
    loading: new Set(),    /* page numbers being fetched */
    abort: null,           /* AbortController of the current query's requests */
    sel: -1,               /* selected row */
    marked: new Map(),     /* id -> name: the rows marked for a bulk edit */
    detailId: 0,
    peaks: null,           /* {id, peaks} of the detail view */
    playing: 0,            /* id the player holds */
    filters: new Map(),    /* facet -> Map(filter -> shown value): chosen facet values */
};

const FACET_NAMES = {
    category: 'Category', format: 'Format', rate: 'Rate', channels: 'Channels', bits: 'Bits',
    key: 'Key', length: 'Length', bpm: 'BPM', rating: 'Rating', favourite: 'Favourite',
    missing: 'Missing', loop: 'Loop', tag: 'Tags', collection: 'Collection',
};

/* ----- the API ----------------------------------------------------------- */

async function api(path, opts) {
    const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts || {}));
    let body = null;
    try {
        body = await r.json();
    } catch (e) {
        body = null;
    }
    if (!r.ok) {
        const err = new Error(body && body.error ? body.error : `${r.status} ${r.statusText}`);
        err.status = r.status;
        err.body = body;
        throw err;
    }
    return body;
}

function post(path, data) {
    return api(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Shelf-Token': state.token },
        body: JSON.stringify(data),
    });
}

function say(text, bad) {
    ui.status.textContent = text;
    ui.status.classList.toggle('bad', !!bad);
}

/* ----- search ------------------------------------------------------------ */

/* The text, narrowed by the chosen facet values: values of one facet are
 * alternatives, facets narrow each other. */
function effectiveQuery() {
    const text = ui.q.value.trim();
    const parts = [];
    for (const values of state.filters.values()) {
        /* "len:>=2s len:<10s" is two terms: parentheses; in:"my set" is one */
        const f = [...values.keys()].map((v) => (/\s/.test(v.replace(/"[^"]*"/g, '')) ? `(${v})` : v));
        parts.push(f.length > 1 ? `(${f.join(' OR ')})` : f[0]);
    }
    if (!parts.length)
        return text;
    return (text ? `(${text}) ` : '') + parts.join(' ');
}

function query() {
    const q = effectiveQuery();
    if (state.abort)
        state.abort.abort();
    state.abort = new AbortController();
    state.gen++;
    state.q = q;
    state.pages.clear();
    state.loading.clear();
    state.sel = -1;
    ui.list.scrollTop = 0;
    ui.q.classList.remove('bad');
    fetchPage(0, true);     /* the facets follow its answer */
    showActive();
}

/* ----- collections and recent searches ----------------------------------- */

const RECENT_KEY = 'shelf.recent';
const RECENT_MAX = 8;
let collections = [];

function recent() {
    try {
        const r = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
        return Array.isArray(r) ? r.filter((x) => typeof x === 'string') : [];
    } catch (e) {
        return [];
    }
}

/* A search the user went on to use (moved into its results): first in the list. */
function remember(text) {
    text = text.trim();
    if (!text)
        return;
    const r = [text, ...recent().filter((x) => x !== text)].slice(0, RECENT_MAX);
    try {
        localStorage.setItem(RECENT_KEY, JSON.stringify(r));
    } catch (e) {
        /* storage full or off: the list just does not grow */
    }
    showSaved();
}

async function loadCollections() {
    try {
        collections = await api('/api/collections');
    } catch (e) {
        collections = [];
    }
    showSaved();
}

/* Save what is searched now (text and chosen facet values) under a name:
 * POST /api/collections; it is listed with the collections at once. */
async function saveSearch(name) {
    const q = effectiveQuery();
    name = name.trim();
    if (!name || !q) {
        say(q ? 'a saved search needs a name' : 'nothing to save: search first', true);
        return;
    }
    try {
        collections = await post('/api/collections', { name, query: q });
        showSaved();
        say(`saved search '${name}': ${q}`);
    } catch (e) {
        say(`cannot save '${name}': ${e.message}`, true);
    }
}

/* in:NAME as the query language writes it; null when it cannot ('"'). */
function inFilter(name) {
    if (name.includes('"'))
        return null;
    return /[\s()]/.test(name) || name.endsWith('*') ? `in:"${name}"` : `in:${name}`;
}

function showSaved() {
    const frag = document.createDocumentFragment();
    const section = (title, id) => {
        const box = document.createElement('section');
        box.className = 'facet';
        box.id = id;
        const h = document.createElement('h3');
        h.textContent = title;
        box.appendChild(h);
        frag.appendChild(box);
        return box;
    };
    const chosen = state.filters.get('collection');
    const usable = collections.filter((c) => inFilter(c.name));
    if (usable.length) {
        const box = section('Collections', 'collections');
        for (const c of usable) {
            const f = inFilter(c.name);
            const b = document.createElement('button');
            b.type = 'button';
            b.className = 'value';
            b.dataset.filter = f;
            b.title = c.query ? `saved search: ${c.query}` : 'collection';
            if (chosen && chosen.has(f))
                b.classList.add('on');
            const name = document.createElement('span');
            name.textContent = (c.kind === 'smart' ? '⌕ ' : '') + c.name;
            const n = document.createElement('span');
            n.className = 'n';
            n.textContent = c.count.toLocaleString('en');
            b.append(name, n);
            b.addEventListener('click', () => toggleFilter('collection', f, c.name));
            box.appendChild(b);
        }
    }
    const r = recent();
    if (r.length) {
        const box = section('Recent', 'recent');
        for (const text of r) {
            const b = document.createElement('button');
            b.type = 'button';
            b.className = 'value';
            b.dataset.text = text;
            b.textContent = text;
            b.addEventListener('click', () => {
                ui.q.value = text;
                query();
            });
            box.appendChild(b);
        }
    }
    ui.saved.replaceChildren(frag);
}

/* ----- facets ------------------------------------------------------------ */

async function fetchFacets() {
    const gen = state.gen;
    let res;
    try {
        res = await api('/api/facets?' + new URLSearchParams({ q: state.q, max: '12' }).toString(),
                        { signal: state.abort.signal });
    } catch (e) {
        if (gen === state.gen && e.name !== 'AbortError')
            ui.facets.replaceChildren();
        return;
    }
    if (gen !== state.gen)
        return;
    const frag = document.createDocumentFragment();
    if (res.building) {
        /* the server is still building its index: counts in a moment */
        const p = document.createElement('p');
        p.className = 'empty';
        p.textContent = 'Counting once the index is built…';
        frag.appendChild(p);
        setTimeout(() => {
            if (gen === state.gen)
                fetchFacets();
        }, 1000);
    }
    for (const [facet, values] of Object.entries(res.facets)) {
        const box = document.createElement('section');
        box.className = 'facet';
        box.dataset.facet = facet;
        const h = document.createElement('h3');
        h.textContent = FACET_NAMES[facet] || facet;
        box.appendChild(h);
        const chosen = state.filters.get(facet);
        for (const v of values) {
            const b = document.createElement('button');
            b.type = 'button';
            b.className = 'value';
            b.dataset.filter = v.filter;
            if (chosen && chosen.has(v.filter))
                b.classList.add('on');
            b.setAttribute('aria-pressed', String(!!(chosen && chosen.has(v.filter))));
            const name = document.createElement('span');
            name.textContent = v.value;
            const n = document.createElement('span');
            n.className = 'n';
            n.textContent = v.count.toLocaleString('en');
            b.append(name, n);
            b.addEventListener('click', () => toggleFilter(facet, v.filter, v.value));
            box.appendChild(b);
        }
        frag.appendChild(box);
    }
    ui.facets.replaceChildren(frag);
    document.body.dataset.facetsGen = String(gen);      /* tests wait on this */
}

function toggleFilter(facet, filter, shown) {
    let values = state.filters.get(facet);
    if (!values) {
        values = new Map();
        state.filters.set(facet, values);
    }
    if (values.has(filter))
        values.delete(filter);
    else
        values.set(filter, shown);
    if (!values.size)
        state.filters.delete(facet);
    query();
    showSaved();
}

function showActive() {
    const frag = document.createDocumentFragment();
    for (const [facet, values] of state.filters) {
        for (const [filter, shown] of values) {
            const chip = document.createElement('button');
            chip.type = 'button';
            chip.className = 'chip';
            chip.dataset.filter = filter;
            chip.textContent = `${FACET_NAMES[facet] || facet}: ${shown} ×`;
            chip.title = filter;
            chip.addEventListener('click', () => toggleFilter(facet, filter, shown));
            frag.appendChild(chip);
        }
    }
    ui.active.replaceChildren(frag);
}

function clearFilters() {
    if (state.filters.size) {
        state.filters.clear();
        query();
        showSaved();
    }
}

function searchURL(page) {
    const p = new URLSearchParams({ q: state.q, offset: String(page * PAGE), limit: String(PAGE) });
    const sort = ui.sort.value;
    if (sort) {
        p.set('sort', sort);
        if (sort === 'rating' || sort === 'added')
            p.set('desc', '1');
    }
    return '/api/search?' + p.toString();
}

async function fetchPage(page, first) {
    if (state.pages.has(page) || state.loading.has(page))
        return;
    const gen = state.gen;
    const t0 = performance.now();
    state.loading.add(page);
    let res;
    try {
        res = await api(searchURL(page), { signal: state.abort.signal });
    } catch (e) {
        if (gen !== state.gen || e.name === 'AbortError')
            return;
        state.loading.delete(page);
        if (e.status === 400) {
            ui.q.classList.add('bad');
            say(e.message + (e.body && e.body.column ? ` (column ${e.body.column})` : ''), true);
            if (first) {
                showTotal(0, true);
                document.body.dataset.gen = String(gen);     /* answered, if with an error */
            }
        } else {
            say(e.message, true);
        }
        return;
    }
    if (gen !== state.gen)
        return;                     /* an answer to an older query */
    state.loading.delete(page);
    state.pages.set(page, res.items);
    let total = res.total;
    /* A count that stopped early grows as pages come back full. */
    if (!res.exact)
        total = Math.max(total, res.offset + res.items.length + (res.items.length === PAGE ? PAGE : 0));
    if (first || total > state.total || res.exact)
        showTotal(total, res.exact);
    if (first) {
        /* The facets of this query once its results are in, and only if no
         * key came meanwhile: while one types, the server counts nothing
         * the next keystroke's search would wait behind. */
        setTimeout(() => {
            if (gen === state.gen)
                fetchFacets();
        }, FACETS_AFTER);
        say('');
        ui.timing.textContent = `${res.ms.toFixed(1)} ms server, ${(performance.now() - t0).toFixed(0)} ms`;
        document.body.dataset.gen = String(gen);     /* tests wait on this */
        document.body.dataset.q = state.q;
    }
    render();
    if (first && state.total > 0 && document.activeElement !== ui.q)
        select(0, false);
}

function showTotal(total, exact) {
    state.total = total;
    state.exact = exact;
    const n = total.toLocaleString('en');
    ui.count.textContent = exact ? `${n} ${total === 1 ? 'sample' : 'samples'}` : `${n}+ samples`;
    ui.count.dataset.total = String(total);
    ui.spacer.style.height = `${total * ROW}px`;
}

function itemAt(i) {
    const page = state.pages.get(Math.floor(i / PAGE));
    return page ? page[i % PAGE] : undefined;
}

/* ----- the virtual list -------------------------------------------------- */

function render() {
    const top = ui.list.scrollTop;
    const height = ui.list.clientHeight;
    const first = Math.max(0, Math.floor(top / ROW) - 5);
    const last = Math.min(state.total, Math.ceil((top + height) / ROW) + 5);

    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(first, last - 1) / PAGE); p++)
        if (p * PAGE < state.total)
            fetchPage(p, false);

    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
        const it = itemAt(i);
        const row = document.createElement('div');
        row.className = 'row';
        row.setAttribute('role', 'option');
        row.dataset.index = String(i);
        row.style.transform = `translateY(${i * ROW}px)`;
        if (i === state.sel)
            row.classList.add('sel');
        if (i === state.sel || (it && state.marked.has(it.id)))
            row.setAttribute('aria-selected', 'true');
        if (it && state.marked.has(it.id))
            row.classList.add('marked');
        if (!it) {
            row.textContent = '…';
            row.classList.add('pending');
        } else {
            row.dataset.id = String(it.id);
            if (it.missing)
                row.classList.add('missing');
            const name = document.createElement('span');
            name.className = 'name';
            name.textContent = it.name;
            name.title = it.path;
            const tags = document.createElement('span');
            tags.className = 'tags';
            tags.textContent = it.tags.join(' ');
            const meta = document.createElement('span');
            meta.className = 'meta';
            meta.textContent = `${it.duration.toFixed(2)} s`;
            const stars = document.createElement('span');
            stars.className = 'stars';
            stars.textContent = (it.favourite ? '♥ ' : '') + '★'.repeat(it.rating);
            row.append(name, tags, stars, meta);
        }
        frag.appendChild(row);
    }
    ui.rows.replaceChildren(frag);
}

function select(i, play) {
    if (state.total === 0)
        return;
    i = Math.max(0, Math.min(state.total - 1, i));
    state.sel = i;
    const y = i * ROW;
    if (y < ui.list.scrollTop)
        ui.list.scrollTop = y;
    else if (y + ROW > ui.list.scrollTop + ui.list.clientHeight)
        ui.list.scrollTop = y + ROW - ui.list.clientHeight;
    render();
    const it = itemAt(i);
    if (it) {
        showDetail(it);
        if (play)
            audition(it, 0);
        prefetch(i + 1);
    } else {
        /* Not loaded yet: try again when its page arrives. */
        const gen = state.gen;
        setTimeout(() => { if (gen === state.gen && state.sel === i) select(i, play); }, 30);
    }
}

/* ----- audio ------------------------------------------------------------- */

function audioURL(id) {
    return `/api/samples/${id}/audio`;
}

function audition(it, at) {
    const p = ui.player;
    if (state.playing !== it.id) {
        p.src = audioURL(it.id);
        state.playing = it.id;
    }
    try {
        p.currentTime = at || 0;
    } catch (e) {
        /* not seekable yet: it starts at 0 */
    }
    const r = p.play();
    if (r)
        r.catch((e) => { if (e.name !== 'AbortError') say(`cannot play ${it.name}: ${e.message}`, true); });
}

function togglePlay() {
    const it = itemAt(state.sel);
    if (!it)
        return;
    if (state.playing === it.id && !ui.player.paused)
        ui.player.pause();
    else
        audition(it, state.playing === it.id ? ui.player.currentTime : 0);
}

function seek(delta) {
    const p = ui.player;
    if (!state.playing || !isFinite(p.duration))
        return;
    p.currentTime = Math.max(0, Math.min(p.duration, p.currentTime + delta));
}

/* The browser opens its audio output at the first sound, which made the
 * first audition of a visit 60 to 80 ms slower than the next ones.  The
 * first key or click (a user gesture, which browsers ask before sound)
 * opens it with a silent audio context; the context closes once the
 * player plays. */
let audioWarm = false;
function warmAudio() {
    let ctx;

    if (audioWarm)
        return;
    audioWarm = true;
    try {
        ctx = new AudioContext();
    } catch (e) {
        return;                 /* no Web Audio: the first audition opens it */
    }
    /* body[data-audio-warm]: running, then closed (the tests read it) */
    ctx.resume().then(() => { document.body.dataset.audioWarm = ctx.state; }).catch(() => {});
    ui.player.addEventListener('playing', () => {
        ctx.close().then(() => { document.body.dataset.audioWarm = ctx.state; }).catch(() => {});
    }, { once: true });
}
for (const ev of ['keydown', 'pointerdown'])
    document.addEventListener(ev, warmAudio, { capture: true, once: true });

/* Warm the next sample: the server reads it, the browser keeps it. */
let prefetched = 0;
function prefetch(i) {
    const it = itemAt(i);
    if (!it || it.id === prefetched || it.missing)
        return;
    prefetched = it.id;
    fetch(audioURL(it.id), { headers: { Range: 'bytes=0-65535' }, credentials: 'same-origin' })
        .then((r) => r.arrayBuffer()).catch(() => {});
}

/* ----- detail ------------------------------------------------------------ */

function field(dl, name, value) {
    if (value === null || value === undefined || value === '')
        return;
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = String(value);
    dl.append(dt, dd);
}

function keyName(k) {
    const names = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
    return `${names[k % 12]}${Math.floor(k / 12) - 1}`;
}

function showDetail(it) {
    state.detailId = it.id;
    const d = ui.detail;
    d.replaceChildren();
    d.dataset.id = String(it.id);

    const h = document.createElement('h1');
    h.textContent = it.name;
    const path = document.createElement('p');
    path.className = 'path';
    path.textContent = it.path;

    const wave = document.createElement('canvas');
    wave.id = 'wave';
    wave.width = 600;
    wave.height = 120;
    wave.title = 'click to play from there';
    wave.addEventListener('click', (e) => {
        const r = wave.getBoundingClientRect();
        audition(it, ((e.clientX - r.left) / r.width) * it.duration);
    });

    const edit = document.createElement('div');
    edit.className = 'edit';
    const fav = document.createElement('button');
    fav.id = 'fav';
    fav.type = 'button';
    fav.textContent = it.favourite ? '♥ favourite' : '♡ favourite';
    fav.setAttribute('aria-pressed', String(!!it.favourite));
    fav.addEventListener('click', () => favourite());
    const stars = document.createElement('span');
    stars.id = 'rating';
    stars.dataset.rating = String(it.rating);
    for (let n = 1; n <= 5; n++) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = n <= it.rating ? 'star on' : 'star';
        b.textContent = '★';
        b.setAttribute('aria-label', `rate ${n}`);
        b.addEventListener('click', () => rate(it.rating === n ? 0 : n));
        stars.appendChild(b);
    }
    edit.append(fav, stars);

    const tags = document.createElement('div');
    tags.id = 'tags';
    for (const t of it.tags) {
        const chip = document.createElement('span');
        chip.className = 'tag';
        chip.textContent = t;
        const x = document.createElement('button');
        x.type = 'button';
        x.textContent = '×';
        x.setAttribute('aria-label', `remove tag ${t}`);
        x.addEventListener('click', () => editTags([], [t]));
        chip.appendChild(x);
        tags.appendChild(chip);
    }
    const tagIn = document.createElement('input');
    tagIn.id = 'tag-input';
    tagIn.placeholder = 'add tag (t)';
    tagIn.setAttribute('aria-label', 'Add tag');
    tagIn.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') {
            const words = tagIn.value.split(/[\s,]+/).filter(Boolean);
            tagIn.value = '';
            if (words.length)
                editTags(words, []);
            ui.list.focus();
            e.preventDefault();
        } else if (e.key === 'Escape') {
            tagIn.value = '';
            ui.list.focus();
            e.preventDefault();
        }
        e.stopPropagation();
    });
    tags.appendChild(tagIn);

    const dl = document.createElement('dl');
    field(dl, 'format', `${it.format} ${it.subtype}`);
    field(dl, 'rate', `${it.rate} Hz`);
    field(dl, 'channels', it.channels);
    field(dl, 'bits', it.bits || null);
    field(dl, 'length', `${it.duration.toFixed(3)} s (${it.frames} frames)`);
    field(dl, 'root key', it.root_key === null || it.root_key === undefined ? null : keyName(it.root_key));
    field(dl, 'tempo', it.tempo ? `${it.tempo} bpm` : null);
    field(dl, 'category', it.category);
    if (it.loop)
        field(dl, 'loop', `${it.loop.start}–${it.loop.end} ${it.loop.mode}`);
    field(dl, 'size', `${(it.size / 1024).toFixed(1)} KiB`);
    if (it.missing)
        field(dl, 'file', 'missing');

    d.append(h, path, wave, edit, tags, dl);
    drawWave(it);
    loadPeaks(it);
}

async function loadPeaks(it) {
    if (state.peaks && state.peaks.id === it.id) {
        drawWave(it);
        return;
    }
    if (it.missing)
        return;
    let res;
    try {
        res = await api(`/api/samples/${it.id}/peaks?n=600`);
    } catch (e) {
        return;
    }
    state.peaks = { id: it.id, peaks: res.peaks };
    if (state.detailId === it.id)
        drawWave(it);
}

function drawWave(it) {
    const c = $('wave');
    if (!c)
        return;
    const g = c.getContext('2d');
    const w = c.width, h = c.height, mid = h / 2;
    g.clearRect(0, 0, w, h);
    if (state.peaks && state.peaks.id === it.id) {
        const pk = state.peaks.peaks;
        g.fillStyle = '#6cb4ee';
        for (let x = 0; x < w; x++) {
            const [lo, hi] = pk[Math.floor((x * pk.length) / w)];
            g.fillRect(x, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
        }
    }
    if (it.loop && it.frames > 0) {
        g.fillStyle = 'rgba(255, 200, 80, 0.25)';
        const a = (it.loop.start / it.frames) * w, b = (it.loop.end / it.frames) * w;
        g.fillRect(a, 0, Math.max(1, b - a), h);
    }
    if (state.playing === it.id && isFinite(ui.player.duration) && ui.player.duration > 0) {
        g.fillStyle = '#fff';
        g.fillRect((ui.player.currentTime / ui.player.duration) * w, 0, 1, h);
    }
}

function playhead() {
    const it = itemAt(state.sel);
    if (it && it.id === state.detailId)
        drawWave(it);
    if (!ui.player.paused)
        requestAnimationFrame(playhead);
}
ui.player.addEventListener('play', () => requestAnimationFrame(playhead));
ui.player.addEventListener('playing', () => { document.body.dataset.playing = String(state.playing); });
ui.player.addEventListener('pause', () => { delete document.body.dataset.playing; });
ui.player.addEventListener('ended', () => { delete document.body.dataset.playing; });
ui.player.addEventListener('error', () => {
    if (state.playing)
        say(`cannot play sample ${state.playing}`, true);
});

/* ----- edits ------------------------------------------------------------- */

/* Put an edited item back everywhere the page holds it. */
function replaceItem(item) {
    for (const items of state.pages.values())
        for (let i = 0; i < items.length; i++)
            if (items[i].id === item.id)
                items[i] = item;
    render();
    if (state.detailId === item.id)
        showDetail(item);
}

async function change(what, path, data) {
    const it = itemAt(state.sel);
    if (!it)
        return;
    try {
        replaceItem(await post(`/api/samples/${it.id}/${path}`, data));
        say(`${what}: ${it.name}`);
        fetchFacets();              /* the counts move with the edit */
    } catch (e) {
        say(`${what} failed: ${e.message}`, true);
    }
}

function rate(n) {
    return change(n ? `rated ${n}` : 'rating cleared', 'rating', { rating: n });
}

function favourite() {
    const it = itemAt(state.sel);
    if (it)
        return change(it.favourite ? 'not a favourite' : 'favourite', 'favourite', { on: !it.favourite });
}

function editTags(add, remove) {
    return change(add.length ? `tagged ${add.join(' ')}` : `untagged ${remove.join(' ')}`, 'tags',
                  { add, remove });
}

/* ----- marking rows for a bulk edit ----------------------------------------- */

function showMarked() {
    const bar = $('bulk');
    const n = state.marked.size;
    bar.hidden = n === 0;
    $('bulk-count').textContent = `${n.toLocaleString('en')} marked`;
    render();
}

function toggleMark(i, on) {
    const it = itemAt(i);
    if (!it)
        return;
    if (on === undefined ? state.marked.has(it.id) : !on)
        state.marked.delete(it.id);
    else
        state.marked.set(it.id, it.name);
    showMarked();
}

function markRange(from, to) {
    for (let i = Math.min(from, to); i <= Math.max(from, to); i++)
        toggleMark(i, true);
}

function clearMarks() {
    state.marked.clear();
    showMarked();
}

/* Tag every marked row: "word" adds, "-word" takes away (POST /api/tags). */
async function bulkTags(text) {
    const words = text.split(/[\s,]+/).filter(Boolean);
    const add = words.filter((w) => !w.startsWith('-'));
    const remove = words.filter((w) => w.startsWith('-')).map((w) => w.slice(1)).filter(Boolean);
    if (!add.length && !remove.length)
        return;
    const ids = [...state.marked.keys()];
    try {
        const r = await post('/api/tags', { ids, add, remove });
        say(`${r.changed} sample${r.changed === 1 ? '' : 's'}: ${[...add, ...remove.map((w) => '-' + w)].join(' ')}`);
        /* what was shown is stale: fetch the pages again */
        state.pages.clear();
        render();
        fetchFacets();
    } catch (e) {
        say(`bulk tags failed: ${e.message}`, true);
    }
}

/* ----- keys -------------------------------------------------------------- */

/* Patches and projects (docs.js) and duplicates (dupes.js) have their own
 * views: body[data-view]. */
function samplesShown() {
    return !document.body.dataset.view || document.body.dataset.view === 'samples';
}

/* Where the keys go back to when a dialog closes: the list of the view shown. */
function homeFocus() {
    const v = document.body.dataset.view;
    (samplesShown() ? ui.list : $(v === 'dupes' ? 'dupe-list' : v === 'restore' ? 'rq' : 'doc-list')).focus();
}

function toggleHelp(show) {
    ui.help.hidden = show === undefined ? !ui.help.hidden : !show;
    if (!ui.help.hidden)
        $('help-close').focus();
    else
        homeFocus();
}

/* ----- status: the daemon and the alerts (GET /api/status) --------------- */

const STATUS_EVERY_MS = 60000;

async function loadStatus() {
    let st;
    try {
        st = await api('/api/status');
    } catch (e) {
        return;                 /* the next look may work; search goes on */
    }
    const b = $('alerts-button');
    b.dataset.worst = st.worst;
    b.textContent = st.alerts.length ? `⚠ ${st.alerts.length}` : '✓';
    b.title = st.alerts.length ? `${st.alerts.length} alert${st.alerts.length > 1 ? 's' : ''}: ${st.worst}`
                               : 'all is well';
    const when = st.daemon.since ? new Date(st.daemon.since * 1000).toLocaleString() : '';
    $('daemon-line').textContent = st.daemon.running
        ? `The daemon runs (pid ${st.daemon.pid}, since ${when}).`
        : 'No daemon runs for this library: start it with shelf daemon (at each login: shelf daemon --install-unit).';
    const items = st.alerts.map((a) => {
        const li = document.createElement('li');
        li.dataset.key = a.key;
        const sev = document.createElement('span');
        sev.className = `sev ${a.severity}`;
        sev.textContent = a.severity;
        li.append(sev, document.createTextNode(a.what));
        if (a.action) {
            const c = document.createElement('code');
            c.textContent = a.action;
            li.appendChild(c);
        }
        return li;
    });
    if (!items.length) {
        const li = document.createElement('li');
        li.textContent = 'Nothing needs you: all is well.';
        items.push(li);
    }
    $('alert-list').replaceChildren(...items);
    document.body.dataset.alerts = String(st.alerts.length);
}

function toggleAlerts(show) {
    const box = $('alerts');
    box.hidden = show === undefined ? !box.hidden : !show;
    if (!box.hidden) {
        loadStatus();
        $('alerts-close').focus();
    } else {
        homeFocus();
    }
}

function pageRows() {
    return Math.max(1, Math.floor(ui.list.clientHeight / ROW) - 1);
}

document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey)
        return;
    const inSearch = e.target === ui.q;
    if (!$('alerts').hidden) {
        if (e.key === 'Escape') {
            toggleAlerts(false);
            e.preventDefault();
        }
        return;
    }
    if (!ui.help.hidden) {
        if (e.key === 'Escape' || e.key === '?') {
            toggleHelp(false);
            e.preventDefault();
        }
        return;
    }
    if (!samplesShown())
        return;                 /* docs.js has the keys */
    if (inSearch) {
        if (e.key === 'ArrowDown' || e.key === 'Enter') {
            remember(ui.q.value);
            ui.list.focus();
            select(state.sel < 0 ? 0 : state.sel, true);
            e.preventDefault();
        } else if (e.key === 'Escape') {
            if (ui.q.value) {
                ui.q.value = '';
                query();
            } else {
                ui.list.focus();
            }
            e.preventDefault();
        }
        return;
    }
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement)
        return;
    const keys = {
        '/': () => { ui.q.focus(); ui.q.select(); },
        '?': () => toggleHelp(true),
        ArrowDown: () => select(state.sel + 1, true),
        ArrowUp: () => select(state.sel - 1, true),
        PageDown: () => select(state.sel + pageRows(), true),
        PageUp: () => select(state.sel - pageRows(), true),
        Home: () => select(0, true),
        End: () => select(state.total - 1, true),
        ' ': () => togglePlay(),
        ArrowLeft: () => seek(-SEEK),
        ArrowRight: () => seek(SEEK),
        f: () => favourite(),
        t: () => { const t = state.marked.size ? $('bulk-input') : $('tag-input'); if (t) t.focus(); },
        x: () => clearFilters(),
        m: () => toggleMark(state.sel),
        s: () => { $('save-name').hidden = false; $('save-name').focus(); },
        Escape: () => { if (state.marked.size) clearMarks(); ui.list.focus(); },
    };
    if (e.shiftKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
        /* Shift+arrows mark as they move */
        if (state.sel >= 0)
            toggleMark(state.sel, true);
        select(state.sel + (e.key === 'ArrowDown' ? 1 : -1), false);
        toggleMark(state.sel, true);
        e.preventDefault();
        return;
    }
    let fn = keys[e.key];
    if (!fn && e.key >= '0' && e.key <= '5')
        fn = () => rate(Number(e.key));
    if (fn) {
        fn();
        e.preventDefault();
    }
});

ui.q.addEventListener('input', query);
ui.sort.addEventListener('change', query);
ui.list.addEventListener('scroll', () => requestAnimationFrame(render));
ui.list.addEventListener('click', (e) => {
    const row = e.target.closest('.row');
    if (row) {
        const i = Number(row.dataset.index);
        remember(ui.q.value);
        ui.list.focus();
        if (e.ctrlKey || e.metaKey) {
            toggleMark(i);              /* Ctrl/⌘-click marks one */
            return;
        }
        if (e.shiftKey && state.sel >= 0) {
            markRange(state.sel, i);    /* Shift-click marks a range */
            return;
        }
        select(i, true);
    }
});
$('bulk-input').addEventListener('keydown', (e) => {
    const input = e.target;
    if (e.key === 'Enter') {
        bulkTags(input.value);
        input.value = '';
        ui.list.focus();
        e.preventDefault();
    } else if (e.key === 'Escape') {
        input.value = '';
        ui.list.focus();
        e.preventDefault();
    }
    e.stopPropagation();
});
$('bulk-clear').addEventListener('click', () => { clearMarks(); ui.list.focus(); });
$('save-button').addEventListener('click', () => { $('save-name').hidden = false; $('save-name').focus(); });
$('save-name').addEventListener('keydown', (e) => {
    const input = e.target;
    if (e.key === 'Enter') {
        saveSearch(input.value);
        input.value = '';
        input.hidden = true;
        ui.list.focus();
        e.preventDefault();
    } else if (e.key === 'Escape') {
        input.value = '';
        input.hidden = true;
        ui.list.focus();
        e.preventDefault();
    }
    e.stopPropagation();
});
$('help-button').addEventListener('click', () => toggleHelp(true));
$('help-close').addEventListener('click', () => toggleHelp(false));
$('alerts-button').addEventListener('click', () => toggleAlerts(true));
$('alerts-close').addEventListener('click', () => toggleAlerts(false));
window.addEventListener('resize', () => render());

/* ----- start ------------------------------------------------------------- */

(async function start() {
    try {
        const s = await api('/api/session');
        state.token = s.token;
        document.title = `shelf: ${s.library}`;
        say(`${s.samples.toLocaleString('en')} samples${s.missing ? `, ${s.missing} missing` : ''}`);
    } catch (e) {
        say(`cannot reach shelf serve: ${e.message}`, true);
        return;
    }
    showSaved();                /* recent searches need no answer */
    document.body.dataset.ready = '1';
    loadCollections();
    loadStatus();
    setInterval(loadStatus, STATUS_EVERY_MS);
    query();
    ui.q.focus();
})();
