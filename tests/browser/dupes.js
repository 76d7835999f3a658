/*
 * dupes.js: the browser test of the duplicates view and of sync conflicts
 * in the page of `shelf serve`, run by tests/cli/test_serve_dupes.sh.
 *
 * Drives Debian's chromium (never a downloaded browser) headless with
 * playwright-core.  The shell script made the library (three copies of a
 * kick named with accents, CJK, an emoji, a newline and a byte that is not
 * UTF-8; a pad as WAV and FLAC; two snares of one name; a patch in sync
 * conflict), folded some copies through the API already, and started the
 * server.  By keyboard: the view, its groups against the API, audition,
 * keep, the fold dialog and its result; then the patch's sync conflict
 * resolved through the merge dialog.  Prints "ok NAME" or "FAIL NAME: why"
 * per check and exits 1 when any check failed.
 */
'use strict';

const path = require('path');

const T = require('./lib.js');
const { ok, fail, check, apiGet, shot, tabTo, url } = T;
const P = Number(process.env.SHELF_PATCH_ID);

/* The groups the page shows: [{kind text, names}]. */
function shownGroups(page) {
    return page.$$eval('#dupe-list .dupe-group', (gs) => gs.map((g) => ({
        head: g.querySelector('.dupe-kind').textContent,
        ids: [...g.querySelectorAll('.dupe-row')].map((r) => Number(r.dataset.id)),
        names: [...g.querySelectorAll('.dupe-row .name')].map((e) => e.textContent),
    })));
}

async function answered(page, kinds) {
    await page.waitForFunction((k) => document.getElementById('dupe-list').dataset.kinds === k, kinds,
                               { timeout: 30000 });
}

async function main() {
    await T.session({ width: 1280, height: 900 }, run);
}

async function run(page) {
    await page.goto(url.href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });

    /* ---- the duplicates view, by keyboard ---- */
    check('the Duplicates switch is reachable by Tab', await tabTo(page, '#view-dupes', 40), 'never focused');
    await page.keyboard.press('Enter');
    await answered(page, 'bytes');
    const api = await apiGet('/api/dupes');
    let groups = await shownGroups(page);
    check('the groups the API finds', JSON.stringify(groups.map((g) => g.ids)) ===
          JSON.stringify(api.groups.map((g) => g.items.map((i) => i.id))) && groups.length === 1, JSON.stringify(groups));
    const names = (groups[0] || { names: [] }).names.slice().sort();
    check('names with accents, CJK, an emoji, a newline and a byte that is not UTF-8',
          JSON.stringify(names) === JSON.stringify(['%FFraw kick', 'Kick Café 鼓 🥁', 'line\nbreak'].sort()),
          JSON.stringify(names));
    check('the head says what and how many', /^identical files · 3 samples · 44\.1 kB each$/.test(groups[0].head),
          groups[0].head);
    check('the first is the one kept by default',
          await page.$eval('#dupe-list .dupe-row.keep', (r) => Number(r.dataset.id)) === groups[0].ids[0], 'another');
    check('the list has the focus', await page.evaluate(() => document.activeElement.id === 'dupe-list'), 'elsewhere');
    await shot(page, 'dupes');

    /* more kinds: the checkboxes, by keyboard */
    check('the audio box is reachable by Tab', await tabTo(page, '#dupe-kinds input[value="audio"]', 60), 'never focused');
    await page.keyboard.press('Space');
    await answered(page, 'bytes,audio');
    check('the name box is reachable by Tab', await tabTo(page, '#dupe-kinds input[value="name"]', 5), 'never focused');
    await page.keyboard.press('Space');
    await answered(page, 'bytes,audio,name');
    groups = await shownGroups(page);
    const heads = groups.map((g) => g.head.split(' · ')[0]);
    check('three kinds of groups', JSON.stringify(heads) ===
          JSON.stringify(['identical files', 'the same audio', 'the same name, other sound']), JSON.stringify(heads));
    check('a name group cannot be folded', await page.$$eval('#dupe-list .dupe-group', (gs) =>
        !gs[2].querySelector('button.fold') && !!gs[0].querySelector('button.fold')), 'a fold button');
    await shot(page, 'dupes-all-kinds');

    /* arrows move and play */
    await page.focus('#dupe-list');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    const kicks = groups[0].ids;
    const second = kicks[1];
    await page.waitForFunction((id) => document.body.dataset.playing === String(id), second, { timeout: 10000 });
    ok('↓ moves and plays the sample');
    const pos = await page.evaluate(async () => {
        const p = document.getElementById('player');
        const t0 = p.currentTime;
        await new Promise((r) => setTimeout(r, 300));
        return [t0, p.currentTime, p.paused];
    });
    check('the audio element really plays', pos[1] > pos[0] || pos[2] === false, JSON.stringify(pos));

    /* k keeps the second; Shift+F shows the fold; Fold makes it */
    await page.keyboard.press('k');
    check('k makes it the one kept', await page.$eval('#dupe-list .dupe-group .dupe-row.keep', (r) => Number(r.dataset.id)) === second,
          'another');
    await page.keyboard.press('Shift+F');
    await page.waitForSelector('#fold-dialog:not([hidden])', { timeout: 5000 });
    const what = await page.$eval('#fold-what', (e) => e.textContent);
    const drops = await page.$$eval('#fold-items li .name', (els) => els.map((e) => e.textContent));
    check('the dialog says which stays and which go', what.includes('stays') && drops.length === 2 &&
          !drops.includes(groups[0].names[1]), JSON.stringify([what, drops]));
    check('Fold has the focus', await page.evaluate(() => document.activeElement.id === 'fold-apply'), 'elsewhere');
    await shot(page, 'fold-dialog');
    await page.keyboard.press('Escape');
    check('Esc closes it', await page.$eval('#fold-dialog', (d) => d.hidden), 'still open');
    const still = await apiGet('/api/dupes');
    check('and nothing changed', still.total === 1 && still.groups[0].items.length === 3, JSON.stringify(still.total));
    await page.keyboard.press('Shift+F');
    await page.waitForSelector('#fold-dialog:not([hidden])', { timeout: 5000 });
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    check('Tab stays in the dialog', await page.evaluate(() => document.activeElement.id === 'fold-apply'), 'left it');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /^folded 2 into/.test(document.getElementById('status').textContent), null,
                               { timeout: 10000 });
    ok('the page says what it folded');
    await page.waitForFunction(() => document.querySelectorAll('#dupe-list .dupe-group').length === 2, null,
                               { timeout: 10000 });
    groups = await shownGroups(page);
    check('the group is gone from the view', groups.length === 2 && !groups.some((g) => g.head.startsWith('identical')),
          JSON.stringify(groups));
    const kept = await apiGet(`/api/samples/${second}`);
    check('the one kept has what the others had', JSON.stringify(kept.tags.slice().sort()) === JSON.stringify(['warm', '鼓-tag']) &&
          kept.rating === 4 && kept.favourite === true, JSON.stringify(kept));
    const left = [];
    for (const id of kicks.filter((x) => x !== second)) {
        const r = await fetch(`${T.base}/api/samples/${id}`, { headers: { 'X-Shelf-Token': T.token } });
        left.push(r.status);
    }
    check('the others left the catalog', JSON.stringify(left) === '[404,404]', JSON.stringify(left));
    await shot(page, 'folded');

    /* ---- the sync conflict ---- */
    await page.click('#view-patches');
    await page.waitForFunction(() => document.getElementById('doc-count').dataset.conflicts === '1', null,
                               { timeout: 10000 });
    check('the list counts the sync conflict', /1 sync conflict$/.test(await page.$eval('#doc-count', (e) => e.textContent)),
          await page.$eval('#doc-count', (e) => e.textContent));
    check('the patch is marked', await page.$eval(`#doc-list .doc-row[data-id="${P}"]`, (r) =>
        r.classList.contains('conflict') && r.querySelector('.conflict-mark').textContent === 'sync conflict'), 'not marked');
    await page.click(`#doc-list .doc-row[data-id="${P}"]`);
    await page.waitForSelector('#doc-detail .sync-conflict', { timeout: 10000 });
    const cf = (await apiGet('/api/conflicts')).conflicts[0];
    const theirsDoc = await apiGet(`/api/patches/${P}?version=${cf.other}`);
    check('its view says what sync could not merge', (await page.$eval('#doc-detail .sync-conflict', (e) => e.textContent))
        .includes(`versions ${cf.head} and ${cf.other}`), 'other text');
    await shot(page, 'sync-conflict');
    await page.focus('#doc-list');
    await page.keyboard.press('r');
    await page.waitForSelector('#doc-dialog:not([hidden])', { timeout: 5000 });
    check('r opens the merge dialog for it', (await page.$eval('#doc-dialog-title', (e) => e.textContent))
        .startsWith(`Resolve the sync conflict: merge version ${cf.other}`), 'another title');
    await page.waitForSelector('#merge-conflicts fieldset[data-path="params/cutoff"]', { timeout: 10000 });
    check('the conflict\'s choices are reachable by Tab',
          await tabTo(page, 'fieldset[data-path="params/cutoff"] input[type=radio]', 30), 'never focused');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => {
        const d = document.getElementById('doc-dialog');
        return d.dataset.ready === '1';
    }, null, { timeout: 10000 });
    const theirs = await page.$eval('fieldset[data-path="params/cutoff"] input[value="theirs"]', (r) => r.checked);
    check('theirs chosen', theirs, 'not chosen');
    await shot(page, 'sync-conflict-merge');
    await page.click('#doc-apply');
    await page.waitForFunction(() => document.getElementById('doc-count').dataset.conflicts === '0', null,
                               { timeout: 10000 });
    ok('the conflict is resolved');
    /* the view is drawn again once the document is read back */
    const cleared = await page.waitForFunction(() => !document.querySelector('#doc-detail .sync-conflict'), null,
                                               { timeout: 10000 }).then(() => true, () => false);
    check('the view no longer shows it', cleared, 'shown');
    const after = await apiGet(`/api/patches/${P}`);
    check('the merged patch holds theirs', after.document.params.cutoff === theirsDoc.document.params.cutoff &&
          after.version > cf.head, JSON.stringify([after, theirsDoc.document.params]));
    check('no conflict left in the API', (await apiGet('/api/conflicts')).conflicts.length === 0, 'one left');
    await shot(page, 'sync-resolved');
}

main().then(() => process.exit(T.failed ? 1 : 0));
