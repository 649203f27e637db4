# Included by `cmake --install`, once per component (dist/CMakeLists.txt
# sets the RATTEST_* variables before): configures each template NAME.in
# of RATTEST_TEMPLATES with the paths of the prefix being installed to and
# installs it, the units into PREFIX/lib/systemd/system, the rest into
# PREFIX/share/rattest. file(INSTALL) honours DESTDIR.
set(prefix "${CMAKE_INSTALL_PREFIX}")
# A staging directory per destination: installs running at once (cpack
# beside `cmake --install` in ctest) never take each other's files.
string(MD5 dest_id "$ENV{DESTDIR}|${prefix}")
set(RATTEST_STAGE_DIR "${RATTEST_STAGE_DIR}/${dest_id}")
set(RATTEST_BINDIR "${prefix}/${RATTEST_BINDIR_REL}")
set(RATTEST_DATADIR "${prefix}/${RATTEST_DATADIR_REL}")
set(RATTEST_DOCDIR "${prefix}/${RATTEST_DOCDIR_REL}")
set(RATTEST_MODULE "${prefix}/${RATTEST_MODULES_RELDIR}/rattest.so")
# GNUInstallDirs' rule: /usr keeps its configuration in /etc.
if(prefix STREQUAL "/usr")
  set(RATTEST_SYSCONFDIR "/etc")
else()
  set(RATTEST_SYSCONFDIR "${prefix}/etc")
endif()
foreach(t IN LISTS RATTEST_TEMPLATES)
  get_filename_component(name "${t}" NAME)
  configure_file("${RATTEST_SOURCE_DIR}/${t}.in" "${RATTEST_STAGE_DIR}/${name}" @ONLY)
  if(t MATCHES "^systemd/")
    set(dest "${prefix}/lib/systemd/system")
  else()
    set(dest "${RATTEST_DATADIR}")
  endif()
  file(INSTALL "${RATTEST_STAGE_DIR}/${name}" DESTINATION "${dest}" FILE_PERMISSIONS OWNER_READ
       OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
