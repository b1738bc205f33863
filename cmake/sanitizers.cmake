# AddressSanitizer + UndefinedBehaviorSanitizer for every target when SLUICE_SANITIZE is on.
if(SLUICE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# ThreadSanitizer for every target when SLUICE_SANITIZE_THREAD is on (make test-tsan). TSan cannot
# be combined with ASan, so the two options are exclusive. -Wno-tsan: g++ >= 12 warns that
# std::atomic_thread_fence (used by Asio's std_fenced_block) is not modelled by TSan, which with
# -Werror fails the build; the fences only order handler memory Asio already synchronizes by its
# own locks, so the warning is silenced rather than the fences removed.
option(SLUICE_SANITIZE_THREAD "Build with ThreadSanitizer" OFF)
if(SLUICE_SANITIZE_THREAD)
  if(SLUICE_SANITIZE)
    message(FATAL_ERROR "SLUICE_SANITIZE_THREAD and SLUICE_SANITIZE cannot be combined")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  add_link_options(-fsanitize=thread)
endif()
