// GB 11643-1999 citizen identity numbers: 17 digits and a check character
// (ISO 7064 MOD 11-2), checked as the number is typed.
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CODES = '10X98765432'

export function checkChar(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]
  return CODES[sum % 11]
}

/** Spaces removed, a lower-case x upper-cased. */
export function normaliseId(s: string): string {
  return s.replace(/\s+/g, '').toUpperCase()
}

/**
 * The problem with what is typed so far, or '' when nothing is wrong yet.
 * While fewer than 18 characters are typed, only impossible characters are
 * reported; at 18 the birth date and the check character are checked.
 */
export function idProblem(raw: string, complete = false): string {
  const s = normaliseId(raw)
  if (!s) return complete ? '请填写身份证号' : ''
  if (!/^\d{0,17}[\dX]?$/.test(s) || (s.length < 18 && s.includes('X'))) return '身份证号只能由数字组成，最后一位可以是 X'
  if (s.length > 18) return '身份证号为 18 位'
  if (s.length < 18) return complete ? `身份证号为 18 位（已输入 ${s.length} 位）` : ''
  const y = Number(s.slice(6, 10))
  const m = Number(s.slice(10, 12))
  const d = Number(s.slice(12, 14))
  const dt = new Date(Date.UTC(y, m - 1, d))
  if (y < 1900 || dt.getUTCFullYear() !== y || dt.getUTCMonth() !== m - 1 || dt.getUTCDate() !== d)
    return '身份证号中的出生日期无效'
  const want = checkChar(s.slice(0, 17))
  if (s[17] !== want) return `校验位不正确：按 GB 11643，第 18 位应为 ${want}`
  return ''
}
