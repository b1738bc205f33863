# `make package`: the Debian package sluice_<version>_<arch>.deb, built by CPack from the
# runtime component (cmake/install.cmake) plus, with SLUICE_PACKAGE=ON, the system files below.
# Depends come from dpkg-shlibdeps on the binary, plus adduser for the postinst.
#
#   /usr/bin/sluice                       the binary
#   /usr/share/man/man1/sluice.1.gz       sluice(1)
#   /etc/default/sluice                   SLUICE_OPTS, the flags the unit runs with (conffile)
#   /lib/systemd/system/sluice.service    Type=notify, own user, hardened (packaging/)
#   /usr/lib/modules-load.d/sluice.conf   loads the kernel TLS module at boot (kTLS)
#
# The system files have absolute destinations, so they are installed only when asked for:
# `cmake --install build --prefix P` of an ordinary build never writes to /etc or /lib.
if(SLUICE_PACKAGE)
  install(FILES packaging/sluice.service DESTINATION /lib/systemd/system COMPONENT runtime)
  install(FILES packaging/sluice.default DESTINATION /etc/default RENAME sluice
    COMPONENT runtime)
  # The unit has no CAP_NET_ADMIN, without which the kernel does not load the TLS module on
  # sluice's first setsockopt(TCP_ULP, "tls"): load it at boot instead.
  install(FILES packaging/sluice-modules.conf DESTINATION /usr/lib/modules-load.d RENAME sluice.conf
    COMPONENT runtime)
endif()

set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "the sluice developers")
set(CPACK_PACKAGE_CONTACT "sluice developers <sluice@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "streaming HTTP reverse proxy")
# The control file's Description: the summary above is its first line, this the extended text.
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "sluice is a reverse proxy for backends that stream: Server-Sent Events, LLM token
streams, long polling, chunked downloads and WebSockets. Bytes that leave the
backend reach the client within a flush interval the operator chooses. TLS on
both sides, Prometheus metrics, a systemd unit with a graceful reload and stop.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)

# One package from the runtime component (the development files are for `cmake --install`).
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME sluice)
set(CPACK_DEBIAN_RUNTIME_FILE_NAME DEB-DEFAULT)  # sluice_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS adduser)
# https:// upstreams are verified against the system CA bundle.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS ca-certificates)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
