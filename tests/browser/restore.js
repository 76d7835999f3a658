/*
 * restore.js: the browser test of the restore dialog in the page of `shelf
 * serve`, run by tests/cli/test_serve_restore_browser.sh.
 *
 * Drives Debian's chromium (never a downloaded browser) headless with
 * playwright-core from tests/servers/node_modules.  The shell script made
 * the library, backed it up into a plain repository (--repo) and an
 * encrypted one (a schedule's target), changed the library (two files
 * edited, one deleted, the patch edited) and started the server; this
 * script gets its address in SHELF_URL and writes screenshots to
 * SHELF_ARTIFACTS.  By keyboard: the Restore tab, the encrypted
 * repository's password, a snapshot, the filter, items chosen, the preview,
 * a choice per conflict and "apply to all", a stale apply (the library
 * changes between the preview and Restore) and the preview again, the
 * progress to done; then the files by SHA-256 and the audit log.  Prints
 * "ok NAME" or "FAIL NAME: why" per check and exits 1 when any failed.
 */
'use strict';

const path = require('path');
const fs = require('fs');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const T = require('./lib.js');
const { ok, check, apiGet, apiPost, tabTo, url } = T;
const env = process.env;
const src = env.SHELF_SRCDIR;
const [P, OW, KB, CAFE] = [env.SHELF_P, env.SHELF_OW, env.SHELF_KB, env.SHELF_CAFE].map(Number);

function shot(page, name) {
    return T.shot(page, name, true);
}

function sha(p) {
    return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

async function ready(page, want) {
    try {
        await page.waitForFunction((w) => {
            const d = document.getElementById('restore-dialog');
            return !d.hidden && d.dataset.ready === w;
        }, want, { timeout: 60000 });
    } catch (e) {
        const st = await page.evaluate(() => [document.getElementById('restore-dialog').dataset.ready,
                                              document.getElementById('r-msg').textContent]);
        throw new Error(`waiting for the dialog to be ${want}: it is ${JSON.stringify(st)}`);
    }
}

async function main() {
    /* The requests that must fail: a wrong password (403), the stale apply (409). */
    const refused = [];
    await T.session({ width: 1400, height: 900 }, run, (text, where) => {
        /* café's file was deleted behind the catalog's back (the setup);
         * the page may warm its audio (prefetch of the row after the one
         * selected when the first answer lands after focus left the
         * search box), and the server rightly answers 404 */
        if (/status of 404/.test(text) && where && where.endsWith(`/api/samples/${env.SHELF_CAFE}/audio`))
            return true;
        const st = /status of (403|409)/.exec(text);
        if (st)
            refused.push(st[1]);
        return !!st;
    });
    check('the only requests refused are the wrong password and the stale apply',
          JSON.stringify(refused) === '["403","409"]', JSON.stringify(refused));
}

async function run(page) {
    await page.goto(url.href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });

    /* The Restore tab, by keyboard. */
    check('"Restore" is reachable by Tab', await tabTo(page, '#view-restore', 40), 'never focused');
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-repos="2"]', { timeout: 30000 });
    await page.waitForSelector('#snap-list[data-repo="1"] .snap', { timeout: 30000 });
    const repos = await apiGet('/api/restore/repos');
    const shownRepos = await page.$$eval('#repo-list .repo .target', (els) => els.map((e) => e.textContent));
    check('the repositories as the API lists them', JSON.stringify(shownRepos) ===
          JSON.stringify(repos.repos.map((r) => r.target)), JSON.stringify(shownRepos));
    check('the encrypted one asks for its password', await page.$('#repo-list .repo[data-repo="2"] input[type=password]') !== null,
          'no password field');
    check('the other views are hidden', await page.$eval('#samples-main', (e) => e.hidden) &&
          await page.$eval('#docs-main', (e) => e.hidden) && await page.$eval('#restore-main', (e) => !e.hidden), 'wrong view');
    await shot(page, 'repositories');

    /* The password, typed into the page: a wrong one first. */
    check('the password field is reachable by Tab', await tabTo(page, '#repo-list .repo[data-repo="2"] input', 30), 'never focused');
    await page.keyboard.type('not it');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /does not open/.test(document.getElementById('status').textContent), null,
                               { timeout: 30000 });
    ok('a wrong password is refused');
    await page.focus('#repo-list .repo[data-repo="2"] input');
    await page.keyboard.type(env.SHELF_PASS);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#snap-list[data-repo="2"] .snap', { timeout: 30000 });
    check('the right one opens it: its snapshots listed', (await apiGet('/api/restore/repos')).repos[1].open === true, 'not open');
    check('the password is not kept in the page', !(await page.content()).includes(env.SHELF_PASS), 'it is');

    /* Back to the plain repository; its snapshot with date, size, contents. */
    await page.focus('#repo-list .repo[data-repo="1"] .target');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#snap-list[data-repo="1"] .snap', { timeout: 30000 });
    const snaps = (await apiGet('/api/restore/repos/1/snapshots')).snapshots;
    const snapText = await page.$eval('#snap-list .snap', (e) => e.textContent);
    check('the snapshot with its id, items, size and host', snapText.includes(snaps[0].id.slice(0, 12)) &&
          snapText.includes(`${snaps[0].items} items`) && snapText.includes(snaps[0].host), snapText);
    check('a snapshot is reachable by Tab', await tabTo(page, '#snap-list .snap', 10), 'never focused');
    await page.keyboard.press('Enter');
    const snap = snaps[0].id;
    await page.waitForSelector(`#item-list[data-snap="${snap}"]`, { timeout: 30000 });
    const items = (await apiGet(`/api/restore/repos/1/snapshots/${snap}/items`)).items;
    const rows = await page.$$eval('#item-list tr[data-item]', (els) => els.map((e) => [e.dataset.item,
        e.querySelector('.name').textContent]));
    check('browse: every item as the API has it, names as they are',
          JSON.stringify(rows) === JSON.stringify(items.map((i) => [i.item, i.name])) && rows.length === 8 &&
          rows.some((r) => r[1] === 'new\nline') && rows.some((r) => r[1] === 'bad%FF') &&
          rows.some((r) => r[1] === '鼓 キック 🥁') && rows.some((r) => r[1] === env.SHELF_PATCH_NAME), JSON.stringify(rows));
    const summary = await page.$eval('#snap-summary', (e) => e.textContent);
    check('the contents summed up', /7 samples .* 1 patches, 0 projects/.test(summary), summary);
    await shot(page, 'snapshot');

    /* The filter: '/' then words; Esc clears it. */
    await page.keyboard.press('/');
    await page.keyboard.type('キック');
    await page.waitForSelector('#item-list[data-q="キック"]', { timeout: 30000 });
    let names = await page.$$eval('#item-list tr[data-item] .name', (els) => els.map((e) => e.textContent));
    check('the filter finds the CJK name', JSON.stringify(names) === '["鼓 キック 🥁"]', JSON.stringify(names));
    await page.keyboard.press('Escape');
    await page.waitForSelector('#item-list[data-q=""]', { timeout: 30000 });

    /* Choose four items by keyboard: the two edited, the deleted one, the patch. */
    for (const it of [`sample:${OW}`, `sample:${KB}`, `sample:${CAFE}`, `patch:${P}`]) {
        await page.focus(`#item-list tr[data-item="${it}"] input`);
        await page.keyboard.press('Space');
    }
    const chosen = await page.$eval('#r-chosen', (e) => e.textContent);
    check('four chosen', chosen === '4 chosen', chosen);
    check('"Preview" is reachable by Tab', await tabTo(page, '#r-preview', 40), 'never focused');
    await page.keyboard.press('Enter');
    await ready(page, '1');
    const pv = (await apiPost('/api/restore/preview', { repo: 1, snapshot: snap,
                                                         items: [`sample:${OW}`, `sample:${KB}`, `sample:${CAFE}`, `patch:${P}`] })).body;
    const counts = await page.$$eval('#r-counts tr[data-action]', (els) => Object.fromEntries(
        els.map((e) => [e.dataset.action, Number(e.querySelector('.n').textContent)])));
    check('the preview counts as the API has them, conflicts apart until chosen',
          ['create', 'overwrite', 'keep-both', 'same', 'failed'].every((a) => counts[a] === pv.counts[a].items) &&
          counts.skip === pv.counts.skip.items - pv.conflicts && counts.conflict === pv.conflicts &&
          counts.create === 1 && counts.conflict === 3, JSON.stringify(counts));
    const conflicts = await page.$$eval('#r-conflicts fieldset', (els) => els.map((e) => e.dataset.item));
    check('a choice per conflict', JSON.stringify(conflicts.sort()) ===
          JSON.stringify([`patch:${P}`, `sample:${KB}`, `sample:${OW}`].sort()), JSON.stringify(conflicts));
    check('Restore waits for every choice', await page.$eval('#r-apply', (e) => e.disabled), 'enabled');
    await shot(page, 'conflicts');

    /* Apply to all: skip; then one overwritten, one kept both, by keyboard. */
    await page.focus('#r-all button[data-all="skip"]');
    await page.keyboard.press('Enter');
    check('apply to all chose skip for every conflict', await page.$$eval('#r-conflicts fieldset',
        (els) => els.every((f) => f.querySelector('input:checked') && f.querySelector('input:checked').value === 'skip')),
          'not all');
    check('Restore is offered once all are chosen', !(await page.$eval('#r-apply', (e) => e.disabled)), 'disabled');
    await page.focus(`#r-conflicts fieldset[data-item="sample:${OW}"] input[value="overwrite"]`);
    await page.keyboard.press('Space');
    await page.focus(`#r-conflicts fieldset[data-item="sample:${KB}"] input[value="keep-both"]`);
    await page.keyboard.press('Space');
    const picked = await page.$$eval('#r-conflicts fieldset', (els) => Object.fromEntries(
        els.map((f) => [f.dataset.item, f.querySelector('input:checked').value])));
    check('the choices per item', picked[`sample:${OW}`] === 'overwrite' && picked[`sample:${KB}`] === 'keep-both' &&
          picked[`patch:${P}`] === 'skip', JSON.stringify(picked));
    const chosenCounts = await page.$$eval('#r-counts tr[data-action]', (els) => Object.fromEntries(
        els.map((e) => [e.dataset.action, Number(e.querySelector('.n').textContent)])));
    check('the counts follow the choices', chosenCounts.create === 1 && chosenCounts.overwrite === 1 &&
          chosenCounts['keep-both'] === 1 && chosenCounts.skip === 1 && chosenCounts.conflict === 0,
          JSON.stringify(chosenCounts));
    await shot(page, 'choices');

    /* Stale: the library changes before Restore; the page says so and previews again. */
    execFileSync(env.SHELF, ['-L', env.SHELF_LIB, 'tag', 'add', String(KB), 'meanwhile']);
    check('Restore is reachable by Tab', await tabTo(page, '#r-apply', 20), 'never focused');
    await page.keyboard.press('Enter');
    await ready(page, 'stale');
    const msg = await page.$eval('#r-msg', (e) => e.textContent);
    check('a stale apply is refused and said', /changed since the preview/.test(msg), msg);
    check('nothing restored by it', !fs.existsSync(path.join(src, 'dossier é', 'café.wav')), 'restored');
    await shot(page, 'stale');
    check('"Preview again" has the focus', await page.$eval('#r-again', (e) => e === document.activeElement), 'not focused');
    await page.keyboard.press('Enter');
    await ready(page, '1');
    const kept = await page.$$eval('#r-conflicts fieldset', (els) => Object.fromEntries(
        els.map((f) => [f.dataset.item, f.querySelector('input:checked') ? f.querySelector('input:checked').value : ''])));
    check('the choices stay for the new preview', JSON.stringify(kept) === JSON.stringify(picked), JSON.stringify(kept));

    /* Restore: progress to done. */
    await page.focus('#r-apply');
    await page.keyboard.press('Enter');
    await ready(page, 'done');
    const bar = await page.$eval('#r-bar', (e) => [e.value, e.max]);
    check('the progress reached the end', bar[0] === bar[1] && bar[1] === 4, JSON.stringify(bar));
    const done = await page.$eval('#r-msg', (e) => e.textContent);
    check('the dialog says what was done', /1 created, 1 overwritten, 1 kept both, 1 skipped/.test(done), done);
    await shot(page, 'done');
    check('overwrite: the snapshot\'s bytes', sha(path.join(src, 'ow take.wav')) === env.SHELF_ORIG_OW, 'other bytes');
    check('keep both: the library\'s bytes and the snapshot\'s beside them',
          sha(path.join(src, 'kb take.wav')) === env.SHELF_EDIT_KB &&
          sha(path.join(src, 'kb take (restored 1).wav')) === env.SHELF_ORIG_KB, 'other bytes');
    check('the deleted one is back', sha(path.join(src, 'dossier é', 'café.wav')) === env.SHELF_ORIG_CAFE, 'other bytes');
    const patch = await apiGet(`/api/patches/${P}`);
    check('skip: the patch as the library has it', patch.document.comment === 'later' && patch.version === 2,
          JSON.stringify(patch));

    /* The audit log, newest first, shows it. */
    await page.waitForFunction(() => Number(document.getElementById('audit-list').dataset.count) === 4, null,
                               { timeout: 30000 });
    const audit = await page.$$eval('#audit-list li', (els) => els.map((e) => e.textContent));
    check('the audit log shows the restore', audit.some((t) => t.includes(`overwrote sample ${OW} `)) &&
          audit.some((t) => t.includes(`kept both of sample ${KB} `)) && audit.some((t) => t.includes(`skipped patch ${P} `)) &&
          audit.some((t) => t.includes(`created sample ${CAFE} `)), JSON.stringify(audit));
    const api = (await apiGet('/api/audit')).entries.map((e) => String(e.id));
    const ids = await page.$$eval('#audit-list li', (els) => els.map((e) => e.dataset.id));
    check('the audit log as the API has it, newest first', JSON.stringify(ids) === JSON.stringify(api), JSON.stringify(ids));
    check('the items show what a restore would do now', await page.waitForFunction((id) => {
        const tr = document.querySelector(`#item-list tr[data-item="sample:${id}"]`);
        return tr && /already there/.test(tr.textContent);
    }, CAFE, { timeout: 30000 }).then(() => true, () => false), 'not refreshed');

    /* Esc closes the dialog, the keys go back to the page. */
    await page.keyboard.press('Escape');
    check('Esc closes the dialog', await page.$eval('#restore-dialog', (e) => e.hidden), 'still open');
    await shot(page, 'audit');
    const search = await apiGet('/api/search?q=restored');
    check('the samples view finds the item kept both', search.total === 1 && search.items[0].name === 'kb take (restored 1)',
          JSON.stringify(search).slice(0, 300));
}

main().then(() => process.exit(T.failed ? 1 : 0), (e) => {
    console.error(`FAIL ${e.stack || e.message}`);
    process.exit(1);
});
