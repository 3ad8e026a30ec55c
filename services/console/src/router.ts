// Routes by role: each screen names the roles that may open it; anything
// else goes to the person's home screen (planners never reach a write screen).
import { nextTick } from 'vue'
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { state, homeOf, type Role } from './lib/session'

const r = (path: string, load: () => Promise<unknown>, roles: Role[] | null, title: string): RouteRecordRaw => ({
  path,
  component: load as never,
  meta: { roles, title },
})

const routes: RouteRecordRaw[] = [
  r('/signin', () => import('./views/SignIn.vue'), null, '登录'),
  r('/dashboard', () => import('./views/DashboardView.vue'), ['planner', 'supervisor', 'admin'], '共富看板'),
  r('/households', () => import('./views/HouseholdList.vue'), ['coordinator', 'admin'], '农户'),
  r('/households/new', () => import('./views/HouseholdEdit.vue'), ['coordinator', 'admin'], '登记农户'),
  r('/households/import', () => import('./views/HouseholdImport.vue'), ['coordinator', 'admin'], '批量导入'),
  r('/households/:id', () => import('./views/HouseholdDetail.vue'), ['coordinator', 'admin'], '农户详情'),
  r('/households/:id/edit', () => import('./views/HouseholdEdit.vue'), ['coordinator', 'admin'], '修改农户'),
  r('/proposals', () => import('./views/ProposalList.vue'), ['notable'], '我的建议'),
  r('/proposals/new', () => import('./views/ProposalNew.vue'), ['notable'], '提交建议'),
  r('/proposals/:id', () => import('./views/ProposalDetail.vue'), ['notable', 'handler', 'supervisor', 'admin'], '建议详情'),
  r('/queue', () => import('./views/HandlerQueue.vue'), ['handler'], '待办建议'),
  r('/supervise', () => import('./views/SuperviseView.vue'), ['supervisor', 'admin'], '督查督办'),
  r('/admin/accounts', () => import('./views/AdminAccounts.vue'), ['admin'], '账号与授权'),
  r('/admin/units', () => import('./views/AdminUnits.vue'), ['admin'], '承办单位'),
  r('/admin/projects', () => import('./views/AdminProjects.vue'), ['admin'], '共富项目'),
  { path: '/:rest(.*)*', redirect: () => homeOf(state.session?.grant.role ?? null) },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach((to) => {
  const roles = to.meta.roles as Role[] | null
  const me = state.session?.grant.role ?? null
  if (roles === null) return me && to.path === '/signin' && !to.query.switch ? homeOf(me) : true
  if (!me) return { path: '/signin', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (!roles.includes(me)) return homeOf(me)
  return true
})

router.afterEach((to, from) => {
  document.title = `${(to.meta.title as string) ?? ''} · 山塘共富`
  // after moving to another screen the focus goes to its content (a screen
  // reader reads the new screen; Tab continues from there), not the first load
  if (from.matched.length && to.path !== from.path) nextTick(() => document.getElementById('main')?.focus())
})
