# Included by ctest after the discovered tests (tests/dashboard/CMakeLists.txt): the Chromium tests get the
# label `chromium` beside `dashboard`, so that `ctest -LE chromium` can leave it out.
set_tests_properties(
  "dashboard_e2e.the_page_updates_live_in_headless_chromium_and_links_the_report_at_the_end"
  "distributed_run.a_coordinator_serves_the_merged_live_view_and_the_shards_states"
  "dashboard_e2e.a_drill_s_page_shows_its_chaos_fault_band"
  PROPERTIES LABELS "dashboard;chromium")
