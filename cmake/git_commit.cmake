# phasegen_git_commit(ROOT OUT): the git commit of the checkout at ROOT ("describe --always --dirty",
# 12 hex digits) in OUT, or "unknown" outside git. Used by the project and by fuzz/.
function(phasegen_git_commit root out)
  find_package(Git QUIET)
  set(_commit "unknown")
  if(GIT_FOUND AND EXISTS "${root}/.git")
    execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty --abbrev=12
                    WORKING_DIRECTORY "${root}"
                    OUTPUT_VARIABLE _described OUTPUT_STRIP_TRAILING_WHITESPACE
                    ERROR_QUIET RESULT_VARIABLE _git_rc)
    if(_git_rc EQUAL 0 AND NOT _described STREQUAL "")
      set(_commit "${_described}")
    endif()
  endif()
  set(${out} "${_commit}" PARENT_SCOPE)
endfunction()
