# Unity batches that keep the sources reading the configuration apart from the rest (issue 13).
#
# CMake's default unity mode batches a target's sources in list order, so a header included by
# a third of the files (core/config/config.h) sits in almost every batch and touching it
# recompiles almost the whole target. statectl_unity_groups() builds the batches itself
# (UNITY_BUILD_MODE GROUP): the sources that include one of STATECTL_UNITY_HOT_HEADERS go into
# their own batches, the others into theirs, each of STATECTL_UNITY_BATCH files in list order (so
# the neighbours of a file stay mostly the same as before). Editing such a header then rebuilds
# only the batches of its includers.
#
# The grouping reads the sources when CMake configures; an include added later only makes the
# grouping less good until the next configure, never the build wrong.
set(STATECTL_UNITY_HOT_HEADERS "core/config/config.h")

function(statectl_unity_groups target)
  if(NOT STATECTL_UNITY)
    return()
  endif()
  get_target_property(sources ${target} SOURCES)
  get_target_property(target_dir ${target} SOURCE_DIR)
  set(pattern "")
  foreach(header IN LISTS STATECTL_UNITY_HOT_HEADERS)
    string(REPLACE "." "\\." header "${header}")
    list(APPEND pattern "#include \"${header}\"")
  endforeach()
  list(JOIN pattern "|" pattern)
  set(count_hot 0)
  set(count_rest 0)
  foreach(source IN LISTS sources)
    if(NOT source MATCHES "\\.(cpp|cc|cxx)$")
      continue()
    endif()
    get_source_file_property(skip ${source} SKIP_UNITY_BUILD_INCLUSION)
    if(skip)
      continue()
    endif()
    if(IS_ABSOLUTE "${source}")
      set(path "${source}")
    else()
      set(path "${target_dir}/${source}")
    endif()
    file(STRINGS "${path}" hits REGEX "^(${pattern})")
    if(hits)
      set(kind hot)
    else()
      set(kind rest)
    endif()
    math(EXPR batch "${count_${kind}} / ${STATECTL_UNITY_BATCH}")
    set_source_files_properties(${source} PROPERTIES UNITY_GROUP "${kind}_${batch}")
    math(EXPR count_${kind} "${count_${kind}} + 1")
  endforeach()
  set_target_properties(${target} PROPERTIES UNITY_BUILD_MODE GROUP)
endfunction()
