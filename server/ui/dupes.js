/*
 * dupes.js: the duplicates view of `shelf serve`.
 *
 * Groups of samples that are the same file (SHA-256), the same audio in
 * other files or encodings, or one name with different sounds (GET
 * /api/dupes); arrows move and play as in the sample list; a group of the
 * same bytes or audio can be folded into the sample chosen to stay (POST
 * /api/dupes/fold): the others' tags, rating, favourite, collections and
 * patch uses move to it and they leave the catalog, their files untouched.
 * The fold is shown first in a dialog and made only on Apply.  Uses
 * app.js's api(), post(), say(), $() and its player, and docs.js's el(),
 * button(), bytesText(), markRow() and keepTabIn().
 */
'use strict';

const DUPE_KINDS = { bytes: 'identical files', audio: 'the same audio', name: 'the same name, other sound' };

const dupes = {
    gen: 0,
    groups: [],             /* [{kind, items: [ITEM...]}] */
    rows: [],               /* [{g, i}] in the order shown */
    sel: -1,
    keep: new Map(),        /* group index -> id chosen to stay */
    fold: null,             /* the fold being confirmed: {g, keep, drop, opener} */
};

const xui = {
    main: $('dupes-main'), list: $('dupe-list'), count: $('dupe-count'),
    kinds: [...document.querySelectorAll('#dupe-kinds input')],
    dialog: $('fold-dialog'), what: $('fold-what'), items: $('fold-items'), msg: $('fold-msg'),
    apply: $('fold-apply'), cancel: $('fold-cancel'),
};

function dupesShown() {
    return document.body.dataset.view === 'dupes';
}

function fullPath(it) {
    return it.root ? `${it.root.replace(/\/$/, '')}/${it.path}` : it.path;
}

/* ----- the groups --------------------------------------------------------- */

async function dupesQuery() {
    const gen = ++dupes.gen;
    const kinds = xui.kinds.filter((b) => b.checked).map((b) => b.value);
    if (!kinds.length) {
        xui.kinds[0].checked = true;
        kinds.push(xui.kinds[0].value);
    }
    xui.count.textContent = kinds.includes('audio') ? 'decoding to compare…' : '…';
    let res;
    try {
        res = await api('/api/dupes?' + new URLSearchParams({ kinds: kinds.join(',') }).toString());
    } catch (e) {
        if (gen === dupes.gen)
            say(e.message, true);
        return;
    }
    if (gen !== dupes.gen)
        return;                 /* an answer to an older choice of kinds */
    dupes.groups = res.groups;
    dupes.keep = new Map();
    const n = res.total;
    xui.count.textContent = `${n.toLocaleString('en')} group${n === 1 ? '' : 's'}` +
        (res.truncated ? ` (the first ${res.groups.length.toLocaleString('en')} shown)` : '');
    dupesRender();
    xui.list.dataset.kinds = kinds.join(',');         /* tests wait on these */
    xui.list.dataset.groups = String(res.groups.length);
}

function keeperOf(g) {
    return dupes.keep.get(g) || dupes.groups[g].items[0].id;
}

function dupesRender() {
    const frag = document.createDocumentFragment();
    const selRow = dupes.rows[dupes.sel];
    dupes.rows = [];
    dupes.groups.forEach((grp, g) => {
        const box = el('section', 'dupe-group');
        box.dataset.group = String(g);
        const size = grp.items[0].size || 0;
        const head = el('div', 'dupe-head');
        head.appendChild(el('span', 'dupe-kind', `${DUPE_KINDS[grp.kind]} · ${grp.items.length} samples` +
                                                (grp.kind === 'bytes' ? ` · ${bytesText(size)} each` : '')));
        if (grp.kind !== 'name') {
            const f = button('Fold into the one kept…', `fold group ${g + 1} into the sample kept`,
                             () => startFold(g));
            f.className = 'fold';
            head.appendChild(f);
        } else {
            head.appendChild(el('span', 'dim', 'different sounds: nothing to fold'));
        }
        box.appendChild(head);
        const keeper = keeperOf(g);
        grp.items.forEach((it, i) => {
            const k = dupes.rows.length;
            dupes.rows.push({ g, i });
            const row = el('div', 'dupe-row');
            row.setAttribute('role', 'option');
            row.dataset.index = String(k);
            row.dataset.id = String(it.id);
            if (selRow && selRow.g === g && selRow.i === i) {
                row.classList.add('sel');
                row.setAttribute('aria-selected', 'true');
                dupes.sel = k;
            }
            if (grp.kind !== 'name' && it.id === keeper)
                row.classList.add('keep');
            const meta = [it.format, typeof it.duration === 'number' ? `${it.duration.toFixed(2)} s` : null,
                          it.rating ? '★'.repeat(it.rating) : null, it.favourite ? '♥' : null,
                          it.missing ? 'MISSING' : null].filter(Boolean).join(' · ');
            row.append(el('span', 'mark', grp.kind !== 'name' && it.id === keeper ? 'keep' : ''),
                       el('span', 'name', it.name), el('span', 'path', fullPath(it)), el('span', 'meta', meta),
                       el('span', 'tags', (it.tags || []).join(' ')));
            box.appendChild(row);
        });
        frag.appendChild(box);
    });
    if (!dupes.groups.length)
        frag.appendChild(el('p', 'empty', 'No duplicates of the kinds chosen.'));
    if (dupes.sel >= dupes.rows.length)
        dupes.sel = dupes.rows.length - 1;
    xui.list.replaceChildren(frag);
}

function dupesSelect(k, play) {
    if (!dupes.rows.length)
        return;
    k = Math.max(0, Math.min(dupes.rows.length - 1, k));
    dupes.sel = k;
    markRow(xui.list.querySelectorAll('.dupe-row'), k);
    if (play)
        dupePlay();
}

function selItem() {
    const r = dupes.rows[dupes.sel];
    return r ? dupes.groups[r.g].items[r.i] : null;
}

function dupePlay() {
    const it = selItem();
    if (!it)
        return;
    const p = $('player');
    if (state.playing !== it.id) {
        state.playing = it.id;
        p.src = `/api/samples/${it.id}/audio`;
    } else {
        p.currentTime = 0;
    }
    p.play().catch(() => {});
}

/* The selected row stays when its group is folded. */
function keepSelected() {
    const r = dupes.rows[dupes.sel];
    if (!r || dupes.groups[r.g].kind === 'name')
        return;
    dupes.keep.set(r.g, dupes.groups[r.g].items[r.i].id);
    dupesRender();
}

/* ----- the fold: shown, then made ------------------------------------------ */

function startFold(g) {
    const grp = dupes.groups[g];
    if (!grp || grp.kind === 'name')
        return;
    const keep = grp.items.find((it) => it.id === keeperOf(g));
    const drop = grp.items.filter((it) => it.id !== keep.id);
    dupes.fold = { g, keep, drop, opener: document.activeElement };
    const tags = new Set();
    for (const it of drop)
        for (const t of it.tags || [])
            if (!(keep.tags || []).includes(t))
                tags.add(t);
    xui.what.textContent = `“${keep.name}” (${fullPath(keep)}) stays. The ${drop.length} below leave the catalog; ` +
        'their files stay where they are. Their tags, rating, favourite, collections and the patches ' +
        'and projects that use them move to the one that stays.' +
        (tags.size ? ` Tags it gains: ${[...tags].join(' ')}.` : '');
    const ul = el('ul');
    for (const it of drop) {
        const li = el('li');
        li.append(el('span', 'name', it.name), el('span', 'path', ` ${fullPath(it)}`));
        ul.appendChild(li);
    }
    xui.items.replaceChildren(ul);
    xui.msg.textContent = '';
    xui.msg.classList.remove('bad');
    xui.apply.disabled = false;
    xui.dialog.hidden = false;
    xui.apply.focus();
}

function closeFold() {
    const f = dupes.fold;
    dupes.fold = null;
    xui.dialog.hidden = true;
    if (f && f.opener && document.contains(f.opener))
        f.opener.focus();
    else
        xui.list.focus();
}

async function applyFold() {
    const f = dupes.fold;
    if (!f)
        return;
    xui.apply.disabled = true;
    let res;
    try {
        res = await post('/api/dupes/fold', { keep: f.keep.id, drop: f.drop.map((it) => it.id) });
    } catch (e) {
        xui.msg.textContent = `Not folded: ${e.message}`;
        xui.msg.classList.add('bad');
        return;
    }
    closeFold();
    say(`folded ${res.folded} into “${res.keep.name}”` + (res.tags ? `, ${res.tags} tags gained` : '') +
        (res.links ? `, ${res.links} patch or project uses moved` : ''));
    xui.list.focus();
    await dupesQuery();
}

xui.apply.addEventListener('click', () => applyFold());
xui.cancel.addEventListener('click', () => closeFold());
for (const b of xui.kinds)
    b.addEventListener('change', () => dupesQuery());

/* ----- keys ---------------------------------------------------------------- */

document.addEventListener('keydown', (e) => {
    if (!dupesShown() || e.ctrlKey || e.metaKey || e.altKey)
        return;
    if (!$('help').hidden || !$('alerts').hidden)
        return;                 /* app.js closes those */
    if (!xui.dialog.hidden) {
        if (e.key === 'Escape') {
            closeFold();
            e.preventDefault();
        }
        return;
    }
    const t = e.target;
    if (t instanceof HTMLInputElement && t.type !== 'checkbox')
        return;
    const inList = t === xui.list || t === document.body;
    const r = dupes.rows[dupes.sel];
    const keys = {
        '?': () => toggleHelp(true),
        Escape: () => xui.list.focus(),
    };
    if (inList) {
        Object.assign(keys, {
            ArrowDown: () => dupesSelect(dupes.sel + 1, true),
            ArrowUp: () => dupesSelect(dupes.sel - 1, true),
            Home: () => dupesSelect(0, true),
            End: () => dupesSelect(dupes.rows.length - 1, true),
            ' ': () => {
                const p = $('player');
                if (p.paused)
                    dupePlay();
                else
                    p.pause();
            },
            k: () => keepSelected(),
            F: () => { if (r) startFold(r.g); },
        });
    }
    const fn = keys[e.key];
    if (fn) {
        fn();
        e.preventDefault();
    }
});

keepTabIn(xui.dialog);

xui.list.addEventListener('click', (e) => {
    const row = e.target.closest('.dupe-row');
    if (row && !e.target.closest('button')) {
        xui.list.focus();
        dupesSelect(Number(row.dataset.index), true);
    }
});
