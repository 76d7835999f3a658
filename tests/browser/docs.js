/*
 * docs.js: the browser test of patches and projects in the page of `shelf
 * serve`, run by tests/cli/test_serve_docs_browser.sh.
 *
 * Drives Debian's chromium (never a downloaded browser) headless with
 * playwright-core from tests/servers/node_modules.  The shell script made
 * the library (a patch with three versions, a patch with a branch beside its
 * main line, a project) and started the server; this script gets its
 * address in SHELF_URL and writes screenshots to SHELF_ARTIFACTS.  Every
 * step is done by keyboard where a musician would (the switch, the list,
 * the timeline's controls, the dialogs), and what the page shows is checked
 * against the API.  Prints "ok NAME" or "FAIL NAME: why" per check and
 * exits 1 when any check failed.
 */
'use strict';

const path = require('path');

const T = require('./lib.js');
const { ok, fail, check, apiGet, apiPost, tabTo, url } = T;
const P = Number(process.env.SHELF_PATCH_ID);
const patchName = process.env.SHELF_PATCH_NAME;
const mergeName = process.env.SHELF_MERGE_NAME;
const projectName = process.env.SHELF_PROJECT_NAME;

function shot(page, name) {
    return T.shot(page, name, true);
}

/* Wait until the document list has answered q in view kind. */
async function listed(page, kind, q) {
    const want = `${kind}:${q}`;
    try {
        await page.waitForFunction((w) => document.body.dataset.dq === w, want, { timeout: 10000 });
    } catch (e) {
        const st = await page.evaluate(() => document.body.dataset.dq);
        throw new Error(`waiting for the list of ${JSON.stringify(want)}: the page shows ${JSON.stringify(st)}`);
    }
}

/* The document shown in the detail view, once it is version v of id. */
async function shownDoc(page, id, v) {
    await page.waitForFunction(([i, ver]) => {
        const d = document.getElementById('doc-detail');
        return d.dataset.id === String(i) && d.dataset.version === String(ver) &&
            document.querySelectorAll('#timeline li').length > 0;
    }, [id, v], { timeout: 10000 });
}

async function dialogReady(page, want) {
    await page.waitForFunction((w) => {
        const d = document.getElementById('doc-dialog');
        return !d.hidden && d.dataset.ready === w;
    }, want, { timeout: 10000 });
}

async function main() {
    /* The requests that must fail: the stale apply (409), an undo with nothing to undo (400). */
    const refused = [];
    await T.session({ width: 1280, height: 900 }, run, (text) => {
        const st = /status of (409|400)/.exec(text);
        if (st)
            refused.push(st[1]);
        return !!st;
    });
    check('the only requests refused are the stale apply and the empty undo',
          JSON.stringify(refused) === '["409","400"]', JSON.stringify(refused));
}

async function run(page) {
    await page.goto(url.href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });

    /* The switch, by keyboard: Tab to "Patches", Enter. */
    check('the switch is reachable by Tab', await tabTo(page, '#view-patches', 20), 'never focused');
    await page.keyboard.press('Enter');
    await listed(page, 'patch', '');
    const all = await apiGet('/api/patches');
    const names = await page.$$eval('#doc-list .doc-row .name', (els) => els.map((e) => e.textContent));
    check('patches listed as the API lists them', JSON.stringify(names) === JSON.stringify(all.items.map((i) => i.name)) &&
          names.length === 3, JSON.stringify(names));
    check('the samples view is hidden', await page.$eval('#samples-main', (e) => e.hidden && getComputedStyle(e).display === 'none'),
          'still shown');
    check('the search box has the focus', await page.$eval('#dq', (e) => e === document.activeElement), 'not focused');

    /* Search as you type: accents folded, CJK and emoji as they are. */
    await page.keyboard.type('ca 鼓', { delay: 30 });
    await listed(page, 'patch', 'ca 鼓');
    let shown = await page.$$eval('#doc-list .doc-row .name', (els) => els.map((e) => e.textContent));
    check('search "ca 鼓" finds the patch named with Ç, CJK and emoji', shown.length === 1 && shown[0] === patchName,
          JSON.stringify(shown));
    const count = await page.$eval('#doc-count', (e) => e.textContent);
    check('the count is shown', count === '1 patch', count);
    await shot(page, 'patch-search');

    /* Down opens it: the parameters as `shelf patch show` has them. */
    await page.keyboard.press('ArrowDown');
    await shownDoc(page, P, 3);
    const doc = await apiGet(`/api/patches/${P}`);
    check('the detail view shows the patch', (await page.$eval('#doc-detail h1', (e) => e.textContent)) === patchName, 'wrong name');
    const params = await page.$$eval('#params tr', (rows) => rows.slice(1).map((r) => [...r.cells].map((c) => c.textContent)));
    const want = [];
    (function walk(v, p) {
        if (v && typeof v === 'object' && !Array.isArray(v))
            for (const k of Object.keys(v))
                walk(v[k], p ? `${p}/${k}` : k);
        else
            want.push([p, typeof v === 'string' ? v : JSON.stringify(v)]);
    })(doc.document.params, '');
    check('the parameter view lists every parameter with its value',
          JSON.stringify(params.map((r) => r.slice(0, 2))) === JSON.stringify(want) && want.length === 3,
          `${JSON.stringify(params)} vs ${JSON.stringify(want)}`);
    const meta = await page.$eval('#doc-detail dl', (e) => e.textContent);
    check('author and comment are shown', meta.includes('Zoë') && meta.includes('warm'), meta);

    /* The history timeline: every version with date, message and who. */
    const hist = await apiGet(`/api/patches/${P}/history`);
    const line = await page.$$eval('#timeline li', (els) => els.map((e) => ({
        v: Number(e.dataset.version), msg: e.querySelector('.vmsg').textContent, meta: e.querySelector('.vmeta').textContent,
    })));
    check('the timeline lists every version, newest first',
          JSON.stringify(line.map((x) => x.v)) === JSON.stringify(hist.versions.map((v) => v.version)) && line.length === 3,
          JSON.stringify(line));
    check('each version shows its message', JSON.stringify(line.map((x) => x.msg)) === JSON.stringify(['warmer 鼓', 'brighter ☀', 'create']),
          JSON.stringify(line.map((x) => x.msg)));
    const year = String(new Date(hist.versions[0].time * 1000).getFullYear());
    check('each version shows its date and who made it', line.every((x) => x.meta.includes(year) && x.meta.includes('this library')),
          JSON.stringify(line.map((x) => x.meta)));
    await shot(page, 'patch-detail');

    /* An older version, viewed: its parameters, and the way back to the head. */
    await page.click('#timeline li[data-version="2"] button[aria-label="view version 2"]');
    await shownDoc(page, P, 2);
    const old = await page.$$eval('#params tr', (rows) => rows.slice(1).map((r) => r.cells[1].textContent));
    check('"View" shows the parameters of that version', JSON.stringify(old) === '["1200","0.3"]', JSON.stringify(old));
    await page.click('#doc-detail button:text("Back to the head")');
    await shownDoc(page, P, 3);
    ok('"Back to the head" shows the head again');

    /* Diff of two versions: tick 1 and 3 by keyboard (Tab, Space). */
    await page.focus('#doc-list');
    check('the timeline is reachable by Tab', await tabTo(page, '#timeline li[data-version="3"] .pick'), 'never focused');
    await page.keyboard.press(' ');
    check('...and version 1\'s box too', await tabTo(page, '#timeline li[data-version="1"] .pick'), 'never focused');
    await page.keyboard.press(' ');
    await page.waitForSelector('#diff[data-pair="1-3"]', { timeout: 10000 });
    const diff = await apiGet(`/api/patches/${P}/diff?a=1&b=3`);
    const rows = await page.$$eval('#diff tr[data-path]', (els) => els.map((e) => e.dataset.path));
    check('the diff of versions 1 and 3 shows every change', JSON.stringify(rows) === JSON.stringify(diff.changes.map((c) => c.path)) &&
          rows.length >= 2, `${JSON.stringify(rows)} vs ${JSON.stringify(diff.changes)}`);
    const cutoff = await page.$eval('#diff tr[data-path="params/filter"] .new', (e) => e.textContent).catch(() => '');
    check('a change shows its new value', cutoff.includes('"cutoff":900'), cutoff);
    await page.keyboard.press('Escape');
    await page.keyboard.press('d');
    await page.waitForSelector('#diff[data-pair="1-3"]', { timeout: 10000 });
    ok('d shows the diff again');
    await shot(page, 'diff');

    /* Revert to version 2: the preview, then Apply, by keyboard. */
    check('"Revert to this" is reachable by Tab', await tabTo(page, '#timeline li[data-version="2"] button[aria-label="revert to version 2"]'),
          'never focused');
    await page.keyboard.press('Enter');
    await dialogReady(page, '1');
    const pvRows = await page.$$eval('#doc-dialog-changes tr[data-path]', (els) => els.map((e) => e.dataset.path));
    const d23 = await apiGet(`/api/patches/${P}/diff?a=3&b=2`);
    check('the revert preview shows what changes', JSON.stringify(pvRows) === JSON.stringify(d23.changes.map((c) => c.path)) &&
          pvRows.length > 0, `${JSON.stringify(pvRows)} vs ${JSON.stringify(d23.changes)}`);
    check('the dialog has the focus', await page.$eval('#doc-dialog', (d) => d.contains(document.activeElement)), 'outside');
    await shot(page, 'revert-preview');
    check('Apply is reachable by Tab in the dialog', await tabTo(page, '#doc-apply', 10), 'never focused');
    await page.keyboard.press('Enter');
    await shownDoc(page, P, 4);
    const v2 = await apiGet(`/api/patches/${P}?version=2`);
    let head = await apiGet(`/api/patches/${P}`);
    check('revert made version 4 equal to version 2', head.version === 4 && JSON.stringify(head.document) === JSON.stringify(v2.document),
          JSON.stringify(head));
    check('the dialog closed', await page.$eval('#doc-dialog', (d) => d.hidden), 'still open');
    check('the timeline shows the new head', (await page.$eval('#timeline li.head', (e) => e.dataset.version)) === '4', 'wrong head');

    /* Undo by key: back to what version 3 was. */
    await page.focus('#doc-list');
    await page.keyboard.press('u');
    await dialogReady(page, '1');
    check('the undo preview names the change it takes back',
          /undo version 4/.test(await page.$eval('#doc-dialog-what', (e) => e.textContent)), 'wrong text');
    await page.click('#doc-apply');
    await shownDoc(page, P, 5);
    head = await apiGet(`/api/patches/${P}`);
    const v3 = await apiGet(`/api/patches/${P}?version=3`);
    const h5 = await apiGet(`/api/patches/${P}/history`);
    check('undo made version 5 equal to version 3', JSON.stringify(head.document) === JSON.stringify(v3.document) &&
          h5.versions[0].undoes === 4, JSON.stringify(h5.versions[0]));

    /* A stale apply: the patch changes between the preview and Apply. */
    await page.focus('#doc-list');
    await page.keyboard.press('u');
    await dialogReady(page, '1');
    const pv = await apiPost(`/api/patches/${P}/preview`, { op: 'revert', to: 1 });
    const done = await apiPost(`/api/patches/${P}/apply`, { preview: pv.body.preview, expect: pv.body.expect });
    check('another client changes the patch meanwhile', done.status === 200 && done.body.version === 6, JSON.stringify(done));
    await page.click('#doc-apply');
    await dialogReady(page, 'stale');
    const msg = await page.$eval('#doc-dialog-msg', (e) => e.textContent);
    check('a stale apply is refused and said so', /Not applied/.test(msg) && /changed since the preview/.test(msg), msg);
    check('nothing was applied', (await apiGet(`/api/patches/${P}`)).version === 6, 'a version was made');
    await shot(page, 'stale');
    await page.click('#doc-preview');
    await dialogReady(page, '1');
    check('the new preview undoes the other client\'s change',
          /undo version 6/.test(await page.$eval('#doc-dialog-what', (e) => e.textContent)), 'wrong text');
    await page.keyboard.press('Escape');
    check('Esc closes the dialog', await page.$eval('#doc-dialog', (d) => d.hidden), 'still open');
    check('...and changes nothing', (await apiGet(`/api/patches/${P}`)).version === 6, 'a version was made');

    /* A patch with nothing to undo says so, and changes nothing. */
    await page.focus('#dq');
    await page.fill('#dq', '');
    await page.keyboard.type('bass');
    await listed(page, 'patch', 'bass');
    await page.keyboard.press('Enter');
    const bass = (await apiGet('/api/patches?q=bass')).items[0];
    await shownDoc(page, bass.id, 1);
    await page.keyboard.press('u');
    await dialogReady(page, 'error');
    const none = await page.$eval('#doc-dialog-msg', (e) => e.textContent);
    check('undo with nothing to undo says so', /nothing to undo/.test(none) &&
          await page.$eval('#doc-apply', (b) => b.disabled), none);
    await page.keyboard.press('Escape');

    /* Merge: the branch head (4) and the main line (3) both changed two values. */
    await page.focus('#dq');
    await page.fill('#dq', '');
    await page.keyboard.type('合并', { delay: 30 });
    await listed(page, 'patch', '合并');
    await page.keyboard.press('Enter');
    const M = (await apiGet('/api/patches?q=' + encodeURIComponent('合并'))).items[0].id;
    await shownDoc(page, M, 4);
    check('the merge patch opens', (await page.$eval('#doc-detail h1', (e) => e.textContent)) === mergeName, 'wrong name');
    check('only a version off the head\'s line offers a merge',
          JSON.stringify(await page.$$eval('#timeline button[aria-label^="merge version"]', (els) =>
              els.map((e) => e.closest('li').dataset.version))) === '["3"]', 'other versions offer it');
    check('"Merge into head" is reachable by Tab', await tabTo(page, '#timeline button[aria-label="merge version 3 into the head"]'),
          'never focused');
    await page.keyboard.press('Enter');
    await dialogReady(page, '0');
    await page.waitForSelector('#merge-conflicts fieldset', { timeout: 10000 });
    const conflicts = await page.$$eval('#merge-conflicts fieldset', (els) => els.map((f) => ({
        path: f.dataset.path,
        sides: [...f.querySelectorAll('.side')].map((s) => s.textContent),
    })));
    const cpaths = conflicts.map((c) => c.path).sort();
    const ODD = 'params/tón 鼓/level 🎚';
    check('the dialog lists each conflict', JSON.stringify(cpaths) === JSON.stringify(['comment', 'params/filter/cutoff', ODD]),
          JSON.stringify(conflicts));
    const cc = conflicts.find((c) => c.path === 'params/filter/cutoff') || { sides: [] };
    check('a conflict shows base, ours and theirs', cc.sides[0] === 'base1000' && cc.sides[1] === 'ours (the head)3000' &&
          cc.sides[2] === 'theirs900', JSON.stringify(cc));
    check('Apply waits for every conflict', await page.$eval('#doc-apply', (b) => b.disabled), 'enabled');
    await shot(page, 'merge-conflicts');
    /* theirs for the cutoff (Tab to its choices, arrows: base, ours, theirs), a typed value for the comment */
    check('the choices are reachable by Tab', await tabTo(page, 'fieldset[data-path="params/filter/cutoff"] input[type=radio]', 30),
          'never focused');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    check('arrows choose theirs', await page.$eval('fieldset[data-path="params/filter/cutoff"] input[value="theirs"]',
                                                   (r) => r.checked), 'not chosen');
    await page.waitForFunction(() => document.getElementById('doc-dialog-msg').textContent.startsWith('2 of 3'), null,
                               { timeout: 10000 });
    ok('one choice leaves two conflicts');
    /* ours for the path with accents, CJK, an emoji and a space */
    check('the odd path\'s choices are reachable by Tab', await tabTo(page, `fieldset[data-path="${ODD}"] input[type=radio]`, 30),
          'never focused');
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => document.getElementById('doc-dialog-msg').textContent.startsWith('1 of 3'), null,
                               { timeout: 10000 });
    ok('a second choice leaves one conflict');
    const typed = 'mix ✓ 鼓 🥁 ça';
    check('the value field is reachable by Tab', await tabTo(page, 'fieldset[data-path="comment"] input.typed', 30), 'never focused');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(typed);
    await page.keyboard.press('Enter');
    await dialogReady(page, '1');
    const newComment = await page.$eval('#doc-dialog-changes tr[data-path="comment"] .new', (e) => e.textContent).catch(() => '');
    check('the preview shows the typed value', newComment === typed, newComment);
    const newCutoff = await page.$eval('#doc-dialog-changes tr[data-path="params/filter/cutoff"] .new', (e) => e.textContent).catch(() => '');
    check('the preview shows theirs where chosen', newCutoff === '900', newCutoff);
    const newOdd = await page.$eval(`#doc-dialog-changes tr[data-path="${ODD}"]`, (e) => e.textContent).catch(() => 'absent');
    check('ours leaves the odd path as the head has it', newOdd === 'absent', newOdd);
    await shot(page, 'merge-preview');
    await page.click('#doc-apply');
    await shownDoc(page, M, 5);
    const merged = await apiGet(`/api/patches/${M}`);
    const mh = await apiGet(`/api/patches/${M}/history`);
    check('the merge is applied', merged.document.comment === typed && merged.document.params.filter.cutoff === 900 &&
          merged.document.params['tón 鼓']['level 🎚'] === 9 &&
          mh.versions[0].parent === 4 && mh.versions[0].parent2 === 3, JSON.stringify([merged.document, mh.versions[0]]));
    check('the timeline shows the merge', /merge of 4 and 3/.test(await page.$eval('#timeline li.head .vmeta', (e) => e.textContent)),
          'no merge badge');
    await shot(page, 'merged');

    /* Projects, by keyboard too. */
    check('"Projects" is reachable by Tab', await tabTo(page, '#view-projects', 80), 'never focused');
    await page.keyboard.press('Enter');
    await listed(page, 'project', '');
    await page.keyboard.type('曲 🎹');
    await listed(page, 'project', '曲 🎹');
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => document.querySelectorAll('#params tr').length > 1, null, { timeout: 10000 });
    check('a project opens with its tempo', (await page.$eval('#doc-detail h1', (e) => e.textContent)) === projectName &&
          (await page.$eval('#params', (e) => e.textContent)).includes('98 bpm'), 'wrong project');
    await shot(page, 'project');

    /* And back to the samples. */
    await page.click('#view-samples');
    check('back to the samples', await page.$eval('#samples-main', (e) => !e.hidden) &&
          await page.$eval('#docs-main', (e) => e.hidden), 'wrong view');
}

main().then(() => process.exit(T.failed ? 1 : 0), (e) => {
    console.error(`FAIL ${e.stack || e.message}`);
    process.exit(1);
});
