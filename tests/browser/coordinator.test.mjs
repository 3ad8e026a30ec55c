// A village coordinator in Debian's chromium against the test stack: the
// household list holds only the grant's village, another village's
// household is refused, registration shows the check-digit error as it is
// typed and the service's problems beside their fields without losing what
// was typed, then enrolls the household, records income and imports a CSV
// whose per-row error report downloads.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BASE, SHOTS, api, browser, token, startAs, keepSession, idNumber, wrongCheck, fieldError, eventually } from './lib.mjs'

const VILLAGE = '330482105201' // 广陈镇山塘村
const OTHER = '310116106201' // 廊下镇山塘村, across the border
// the demo coordinator of the village, signing in with the SMS code
const AS = { match: (g) => (g.regions ?? []).includes(VILLAGE) }

test('a coordinator sees only the households of its village', { timeout: 120000 }, async () => {
  const b = await browser({ width: 360, height: 780 })
  try {
    const { page } = b
    await startAs(page, 'coordinator', AS)
    await page.goto(BASE + '/households')
    await page.waitForSelector('[data-testid="household"]')
    for (let p = 0; p < 3; p++) {
      const villages = await page.$$eval('[data-testid="household"]', (lis) => lis.map((li) => li.dataset.village))
      assert.ok(villages.length > 0)
      assert.deepEqual([...new Set(villages)], [VILLAGE], `page ${p + 1}: only the grant's village`)
      const next = page.getByTestId('next-page')
      if (await next.isDisabled()) break
      const first = await page.locator('[data-testid="household"] a').first().textContent()
      await next.click()
      await eventually(async () => (await page.locator('[data-testid="household"] a').first().textContent()) !== first, 5000, 'the next page')
    }
    const options = await page.$$eval('select[data-testid="village"] option', (os) => os.map((o) => o.value).filter(Boolean))
    assert.deepEqual(options, [VILLAGE], 'the village filter offers the grant only')
    // a household across the border, by its address: refused, nothing shown
    const admin = await token('admin')
    const other = (await api('enrollment', `/v1/households?village=${OTHER}&limit=1`, admin)).json.items[0]
    await page.goto(`${BASE}/households/${other.id}`)
    await page.waitForSelector('.form-error:not(:empty)')
    assert.match(await page.locator('.form-error').first().textContent(), /无权/)
    assert.equal(await page.getByText(other.head_name).count(), 0, "the other village's head is never shown")
  } finally {
    await keepSession(b.page).catch(() => undefined)
    await b.close()
  }
})

test('a coordinator registers a household, enrolls it and records income', { timeout: 180000 }, async () => {
  const b = await browser({ width: 360, height: 780 })
  try {
    const { page } = b
    await startAs(page, 'coordinator', AS)
    await page.goto(BASE + '/households/new')
    const name = '测试户' + Math.floor(Math.random() * 1e6)
    const id = idNumber('330482')
    await page.getByLabel('户主姓名').fill(name)
    // the wrong check digit is reported as it is typed
    await page.getByLabel('身份证号').pressSequentially(wrongCheck(id), { delay: 5 })
    assert.match(await fieldError(page, 'id_number'), /校验位不正确/)
    await page.getByTestId('save').click()
    assert.match(await fieldError(page, 'id_number'), /校验位/)
    await page.getByLabel('身份证号').press('Backspace')
    await page.getByLabel('身份证号').press(id[17])
    assert.equal(await fieldError(page, 'id_number'), '', 'the fixed number passes')
    // a phone the service refuses: its problem (pointer /phone) lands beside the field
    await page.getByLabel('手机号').fill('12345')
    await page.getByLabel('家庭人口（人）').fill('3')
    await page.getByTestId('certified').check()
    await page.getByLabel('人均基线收入（元/年）').fill('11800.50')
    await page.getByTestId('save').click()
    await eventually(async () => (await fieldError(page, 'phone')) !== '', 10000, 'the phone error')
    assert.equal(await page.getByLabel('户主姓名').inputValue(), name, 'nothing typed is lost')
    assert.equal(await page.getByLabel('身份证号').inputValue(), id)
    assert.equal(await page.getByLabel('人均基线收入（元/年）').inputValue(), '11800.50')
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('type')), 'tel', 'the focus moves to the refused field')
    await page.getByLabel('手机号').fill('139' + String(Math.floor(Math.random() * 1e8)).padStart(8, '0'))
    await page.getByTestId('save').click()
    await page.waitForURL(/\/households\/[0-9a-f-]{36}\?saved=registered/)
    await page.getByTestId('saved').waitFor()
    assert.match(await page.getByTestId('id-masked').textContent(), /^330482\*{8}\d{3}[\dX]$/, 'the number is shown masked')
    // enroll into a project and record a wage
    const enroll = page.getByTestId('enroll-form')
    await eventually(async () => (await enroll.locator('select').first().locator('option:not([disabled])').count()) > 0, 15000, 'the projects of the village offered')
    await enroll.getByLabel('项目').selectOption({ index: 1 })
    await enroll.getByLabel('参与方式').selectOption('employment')
    await enroll.getByLabel('开始日期').fill(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date()).slice(0, 8) + '01')
    await enroll.getByLabel('月工资（元）').fill('3800')
    await enroll.getByRole('button', { name: '加入项目' }).click()
    await eventually(async () => (await page.getByTestId('saved').textContent()).includes('已加入项目'), 10000, 'the enrollment')
    assert.equal(await page.locator('[data-testid="enrollments"] > li .badge').first().textContent(), '就业')
    const income = page.getByTestId('income-form')
    await income.getByLabel('项目').selectOption({ index: 1 })
    await income.getByLabel('金额（元）').fill('1,234.56')
    await income.getByLabel('凭证号 / 来源').fill('浏览器测试-' + Date.now())
    // the enrollment's event reaches the income service a moment later: retry on 503/422
    await eventually(async () => {
      await income.getByRole('button', { name: '记录收入' }).click()
      await page.waitForTimeout(400)
      return (await page.getByTestId('saved').textContent()).includes('1,234.56')
    }, 30000, 'the income entry')
  } finally {
    await keepSession(b.page).catch(() => undefined)
    await b.close()
  }
})

test('a coordinator imports a CSV with progress and downloads the error report', { timeout: 120000 }, async () => {
  const b = await browser({ width: 1440, height: 900 })
  try {
    const { page } = b
    await startAs(page, 'coordinator', AS)
    const good1 = idNumber('330482')
    const good2 = idNumber('330482')
    const csv = [
      '户主姓名,身份证号,手机号,村代码,家庭人口,低收入认定,认定年份,人均基线收入(分)',
      `导入甲,${good1},13911110001,${VILLAGE},2,否,,`,
      `导入乙,${wrongCheck(good2)},13911110002,${VILLAGE},3,否,,`,
      `导入丙,${good2},13911110003,${VILLAGE},4,是,2024,1150000`,
    ].join('\r\n')
    const file = join(SHOTS, 'import-test.csv')
    writeFileSync(file, '\ufeff' + csv + '\r\n')
    await page.goto(BASE + '/households/import')
    await page.getByLabel('CSV 文件').setInputFiles(file)
    await page.getByTestId('upload').click()
    await page.getByTestId('import-result').waitFor()
    assert.equal(await page.getByTestId('imported').textContent(), '2')
    assert.equal(await page.getByTestId('invalid').textContent(), '1')
    assert.equal(await page.locator('#upload-progress').getAttribute('value'), await page.locator('#upload-progress').getAttribute('max'), 'the progress bar is full')
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('error-report').click()])
    const report = join(SHOTS, 'import-errors.csv')
    await dl.saveAs(report)
    const lines = readFileSync(report, 'utf8').replace(/^\ufeff/, '').trim().split(/\r\n/)
    assert.equal(lines.length, 2, 'the header and the one bad row')
    assert.match(lines[0], /^行号,错误,户主姓名,身份证号/)
    assert.match(lines[1], /^3,id_number：.+,导入乙,/, 'the error beside its row')
  } finally {
    await keepSession(b.page).catch(() => undefined)
    await b.close()
  }
})
